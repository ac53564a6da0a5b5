"""Request body compression per destination: none, gzip (level 1 by default, through ISA-L) or zstd (level 2)."""

# Where the time goes (benchmarks/README.md, suite `compress`, a 512-record OTLP body of "full" records): the
# stdlib's zlib at level 1 costs about 4x ISA-L's igzip at level 1 for a slightly lower ratio, so gzip levels 1-3
# go through ISA-L (python-isal, `isal`) at the same level, each at least zlib's ratio at that level; ISA-L has no
# level with zlib's 4-9 ratios, so those stay with zlib. Both write a plain gzip stream (mtime 0, so a retried
# batch is the same bytes) that any gzip reader takes. Without isal, every level goes through zlib.
#
# zstd defaults to level 2, chosen from the same table: level 1 is no faster and compresses less; level 3 costs
# about 20% more CPU for about 6% fewer bytes, and CPU is what bounds a broadcast on a small machine.
#
# Small bodies are compressed on the event loop; from OFF_LOOP_MIN_BYTES on, in a worker thread, so that the loop
# goes on encoding and sending while another core compresses. zlib, ISA-L and zstandard all release the GIL while
# they work. A zstd context is not safe to share between threads and costs a few MB of tables to make, so each
# thread keeps one per level (threading.local) for every destination it compresses for.

from __future__ import annotations

import asyncio
import threading
import zlib
from concurrent.futures import Executor
from typing import Callable

from ..errors import ConfigError

try:
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover - isal is a dependency; the stdlib serves where it has no build
    _isal = None

__all__ = ["Compressor", "OFF_LOOP_MIN_BYTES", "ISAL_MAX_LEVEL"]

# A 32 KiB body costs ~45 us to compress with ISA-L (~65 us with zstd); a hop to a worker and back costs the loop
# 16-50 us of CPU (measured, the more the busier the machine), as much as compressing 8-16 KiB on it
# (benchmarks/README.md, "off the loop"). Only small batches are this small: a full batch is megabytes.
OFF_LOOP_MIN_BYTES = 32 * 1024
ISAL_MAX_LEVEL = 3  # ISA-L's levels are 0-3; gzip levels above go through zlib
_LEVELS = {"gzip": (1, 9, 1), "zstd": (1, 22, 2)}  # min, max, default
_GZIP_WBITS = 31  # deflate in a gzip wrapper (16 + a 32 KiB window), header mtime 0

_contexts = threading.local()  # per thread: {zstd level: ZstdCompressor}


def _zstd_context(level: int):
    try:
        per_level = _contexts.zstd
    except AttributeError:
        per_level = _contexts.zstd = {}
    context = per_level.get(level)
    if context is None:
        import zstandard

        context = per_level[level] = zstandard.ZstdCompressor(level=level)
    return context


class Compressor:
    """Compresses bodies for one destination and names the Content-Encoding; `backend` says which library
    does the work ("isal", "zlib", "zstandard" or None)."""

    __slots__ = ("kind", "level", "backend", "_compress")

    def __init__(self, kind: str = "none", level: int | None = None) -> None:
        if kind not in ("none", "gzip", "zstd"):
            raise ConfigError("compression", f"unknown compression {kind!r}; expected none, gzip or zstd")
        self.kind = kind
        self.backend: str | None = None
        self._compress: Callable[[bytes], bytes] | None = None
        if kind == "none":
            if level is not None:
                raise ConfigError("compression_level", "set without compression")
            self.level = 0
            return
        low, high, default = _LEVELS[kind]
        self.level = default if level is None else level
        if not low <= self.level <= high:
            raise ConfigError("compression_level", f"{kind} takes {low} to {high}, got {self.level}")
        lvl = self.level
        if kind == "gzip" and _isal is not None and lvl <= ISAL_MAX_LEVEL:
            self.backend = "isal"
            isal_compress = _isal.compress
            self._compress = lambda data: isal_compress(data, lvl, _GZIP_WBITS)
        elif kind == "gzip":
            self.backend = "zlib"
            self._compress = lambda data: zlib.compress(data, lvl, _GZIP_WBITS)
        else:
            try:
                _zstd_context(lvl)
            except ImportError:  # pragma: no cover - zstandard is a dependency
                raise ConfigError("compression", "zstd needs the zstandard package") from None
            self.backend = "zstandard"
            self._compress = lambda data: _zstd_context(lvl).compress(data)

    @property
    def content_encoding(self) -> str | None:
        return None if self.kind == "none" else self.kind

    def compress(self, data: bytes) -> bytes:
        if self._compress is None:
            return data
        return self._compress(data)

    async def compress_async(self, data: bytes, executor: Executor | None = None) -> bytes:
        """Compress, in a worker thread when the body is big enough to be worth the hop."""
        if self._compress is None or len(data) < OFF_LOOP_MIN_BYTES:
            return self.compress(data)
        return await asyncio.get_running_loop().run_in_executor(executor, self.compress, data)

    def __repr__(self) -> str:
        if self.kind == "none":
            return "<Compressor none>"
        return f"<Compressor {self.kind} level={self.level} backend={self.backend}>"
