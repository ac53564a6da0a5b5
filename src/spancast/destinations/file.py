"""The local ``file`` destination: OTLP JSON lines (one ExportTraceServiceRequest per line), rotating by size.

For debugging and as the embedded default. Like every destination it only describes what to write;
the pipeline's file transport appends it (off the event loop) and rotates the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from ..errors import ConfigError
from .base import CommonSettings, Request
from .otlp import FLAVOR_HELP, OtlpDestination

__all__ = ["FileSettings", "FileDestination"]


class FileSettings(CommonSettings, kw_only=True, forbid_unknown_fields=True):
    directory: Annotated[str, msgspec.Meta(
        description="where the files are written (created when missing); relative to the current directory",
    )] = "spancast-out"
    file_name: Annotated[str, msgspec.Meta(
        description="the current file's name (no '/'); rotated files get .1, .2, ... appended",
    )] = "traces.jsonl"
    max_file_bytes: Annotated[int, msgspec.Meta(
        description="the file is rotated before it would grow past this many bytes (at least 1024)",
    )] = 64 * 1024 * 1024
    max_files: Annotated[int, msgspec.Meta(
        description="rotated files kept besides the current one (0: a full file is deleted)",
    )] = 5
    flavor: Annotated[Literal["gen_ai", "openinference", "openrouter"], msgspec.Meta(
        description=FLAVOR_HELP,
    )] = "gen_ai"
    resource: Annotated[dict[str, object], msgspec.Meta(
        description="extra OTLP resource attributes on every line (service.name defaults to spancast)",
    )] = {}


class FileDestination(OtlpDestination):
    type = "file"
    settings_class = FileSettings
    transport = "file"

    def validate(self, where: str) -> None:
        s = self.settings
        if not s.file_name or "/" in s.file_name:
            raise ConfigError(f"{where}.file_name", f"a plain file name, got {s.file_name!r}")
        if s.max_file_bytes < 1024:
            raise ConfigError(f"{where}.max_file_bytes", f"must be at least 1024, got {s.max_file_bytes}")
        if s.max_files < 0:
            raise ConfigError(f"{where}.max_files", f"must be >= 0, got {s.max_files}")
        if self.compressor.kind != "none":
            raise ConfigError(f"{where}.compression", "files are written as plain JSON lines")

    #: Set by spancast serve --workers in each worker: K writes <name>-worker-K<suffix>, never another's file.
    worker: int | None = None

    @property
    def path(self) -> Path:
        name = self.settings.file_name
        if self.worker is not None:
            stem, dot, suffix = name.partition(".")
            name = f"{stem}-worker-{self.worker}{dot}{suffix}"
        return Path(self.settings.directory) / name

    @property
    def url(self) -> str:
        return self.path.resolve().as_uri()

    @property
    def encoding(self) -> str:
        return "json"

    def request(self, body: bytes) -> Request:
        return Request("APPEND", self.url, {}, b"".join((body, b"\n")))  # body may be a pooled Body
