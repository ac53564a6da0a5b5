"""Request body compression per destination: none, gzip (level 1 by default) or zstd.

Small bodies are compressed on the event loop; from OFF_LOOP_MIN_BYTES on, in a worker thread
(zlib and zstandard release the GIL while they work), so a big batch never stalls the loop.
"""

from __future__ import annotations

import asyncio
import gzip
from concurrent.futures import Executor

from ..errors import ConfigError

__all__ = ["Compressor", "OFF_LOOP_MIN_BYTES"]

OFF_LOOP_MIN_BYTES = 64 * 1024
_LEVELS = {"gzip": (1, 9, 1), "zstd": (1, 22, 3)}  # min, max, default


class Compressor:
    """Compresses bodies for one destination and names the Content-Encoding."""

    __slots__ = ("kind", "level", "_zstd")

    def __init__(self, kind: str = "none", level: int | None = None) -> None:
        if kind not in ("none", "gzip", "zstd"):
            raise ConfigError("compression", f"unknown compression {kind!r}; expected none, gzip or zstd")
        self.kind = kind
        self._zstd = None
        if kind == "none":
            if level is not None:
                raise ConfigError("compression_level", "set without compression")
            self.level = 0
            return
        low, high, default = _LEVELS[kind]
        self.level = default if level is None else level
        if not low <= self.level <= high:
            raise ConfigError("compression_level", f"{kind} takes {low} to {high}, got {self.level}")
        if kind == "zstd":
            try:
                import zstandard
            except ImportError:  # pragma: no cover - zstandard is a dependency
                raise ConfigError("compression", "zstd needs the zstandard package") from None
            self._zstd = zstandard.ZstdCompressor(level=self.level)

    @property
    def content_encoding(self) -> str | None:
        return None if self.kind == "none" else self.kind

    def compress(self, data: bytes) -> bytes:
        if self.kind == "none":
            return data
        if self.kind == "gzip":
            return gzip.compress(data, compresslevel=self.level, mtime=0)
        return self._zstd.compress(data)

    async def compress_async(self, data: bytes, executor: Executor | None = None) -> bytes:
        """Compress, in a worker thread when the body is big enough to be worth the hop."""
        if self.kind == "none" or len(data) < OFF_LOOP_MIN_BYTES:
            return self.compress(data)
        # A ZstdCompressor is not safe to share between threads: the worker gets a context of its own.
        worker = Compressor(self.kind, self.level)
        return await asyncio.get_running_loop().run_in_executor(executor, worker.compress, data)

    def __repr__(self) -> str:
        return f"<Compressor {self.kind}{f' level={self.level}' if self.kind != 'none' else ''}>"
