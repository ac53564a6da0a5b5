"""Appending to a local file that rotates by size: traces.jsonl, then traces.jsonl.1, .2, ... up to max_files."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .retry import Action, Decision
from .transport import Sent

if TYPE_CHECKING:
    from ..destinations.base import Request

__all__ = ["FileTransport", "RotatingFile"]


class RotatingFile:
    """Thread-safe appends (the pipeline writes from a worker thread); whole lines never split across files."""

    def __init__(self, path: Path, max_bytes: int, max_files: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self._lock = threading.Lock()
        self._file = None
        self._size = 0

    def append(self, data: bytes) -> None:
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "ab")  # noqa: SIM115 - kept open across appends
                self._size = self._file.tell()
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            self._file.write(data)
            self._file.flush()
            self._size += len(data)

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        if self.max_files == 0:
            os.remove(self.path)
        else:
            for n in range(self.max_files - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{n}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._size = 0

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __repr__(self) -> str:
        return f"<RotatingFile {self.path} size={self._size} max_bytes={self.max_bytes} max_files={self.max_files}>"


class FileTransport:
    """The file destination's transport (spancast.pipeline.transport): each request's body appended to the
    rotating file in a worker thread."""

    def __init__(self, destination: Any) -> None:
        s = destination.settings
        self.file = RotatingFile(destination.path, s.max_file_bytes, s.max_files)

    async def start(self) -> None:
        """Nothing to open: the file is opened by the first append."""

    async def send(self, request: Request) -> Sent:
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.file.append, request.body)
        except OSError as exc:  # a full disk, a directory taken away: it may pass later
            reason = f"cannot append to {self.file.path}: {exc.strerror or type(exc).__name__}"
            return Sent(Decision(Action.RETRY, None, None, False, reason), "error")
        return Sent(Decision(Action.DELIVERED, None))

    async def close(self) -> None:
        self.file.close()

    def __repr__(self) -> str:
        return f"<FileTransport {self.file!r}>"
