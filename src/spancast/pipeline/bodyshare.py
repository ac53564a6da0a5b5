"""One compressed copy of a body for the lanes that send the same bytes with the same compression.

Destinations that render alike and derive the same ids (one ``id_namespace``, the same flavour,
encoding and resource) cut the same records into the same batches when their batch settings match:
their bodies are byte for byte the same, and so is each compression of them. The first lane of such
a group to compress a body keeps the compressed copy here; the others find it by the body's length,
its first bytes and the records it holds, check that their body is the same (one memcmp, ~0.3 ms for
a 2.4 MB body of 512 "full" records against ~4 ms to compress it with ISA-L) and send the copy. A
body that differs, a batch cut elsewhere (a flush timer, a 413 split), a copy gone: each lane
compresses its own, as it would alone.

An entry goes once every member has taken it, or past max_bytes (oldest out first); it is counted in
the broadcaster's memory_bytes().
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from .compress import Compressor

__all__ = ["BodyShare"]

#: Bytes of the body's start in its key: where the resource is, in either OTLP encoding.
HEAD_BYTES = 256


class _Entry:
    __slots__ = ("body", "wire", "taken", "nbytes")

    def __init__(self, body: Any, wire: asyncio.Future[bytes]) -> None:
        self.body, self.wire, self.taken, self.nbytes = body, wire, 1, len(body)


class BodyShare:
    """Compressed bodies of one group of alike lanes (members), shared; see the module's docstring."""

    def __init__(self, compressor: Compressor, members: int, max_bytes: int = 64 << 20) -> None:
        self.compressor = compressor
        self.members = members
        self.max_bytes = max_bytes
        self.bytes = 0  # held by the entries: the bodies they keep alive and their compressed copies
        self.hits = 0  # bodies another member had compressed already
        self.misses = 0  # bodies compressed here
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()

    async def compress(self, body: Any, records: Sequence[Any]) -> bytes:
        """body compressed: another member's copy when it compressed the same bytes, else compressed now."""
        if self.members < 2 or not records:
            return await self.compressor.compress_async(body)
        key = (len(body), bytes(memoryview(body)[:HEAD_BYTES]), id(records[0]), id(records[-1]), len(records))
        entry = self._entries.get(key)
        if entry is not None and entry.body == body:
            try:
                wire = await asyncio.shield(entry.wire)
            except Exception:  # the member compressing it failed or was cancelled: this one compresses its own
                self.misses += 1
                return await self.compressor.compress_async(body)
            self.hits += 1
            entry.taken += 1
            if entry.taken >= self.members:
                self._drop(key, entry.wire)  # this entry, not one a later body put under the same key
            return wire
        self.misses += 1
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        if entry is None:  # a key already held by other bytes keeps its entry: this body is not shared
            self._keep(key, _Entry(body, future))
        try:
            wire = await self.compressor.compress_async(body)
        except BaseException as exc:
            self._drop(key, future)
            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("compression cancelled"))
            future.exception()  # retrieved: no "never retrieved" warning when no member was waiting
            raise
        future.set_result(wire)
        held = self._entries.get(key)
        if held is not None and held.wire is future:
            held.nbytes += len(wire)
            self.bytes += len(wire)
            self._evict()
        return wire

    def _keep(self, key: tuple, entry: _Entry) -> None:
        self._entries[key] = entry
        self.bytes += entry.nbytes
        self._evict()

    def _evict(self) -> None:
        while self.bytes > self.max_bytes and self._entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: tuple, only: asyncio.Future[bytes] | None = None) -> None:
        entry = self._entries.get(key)
        if entry is not None and (only is None or entry.wire is only):
            del self._entries[key]
            self.bytes -= entry.nbytes

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return (f"<BodyShare {self.compressor.kind} level={self.compressor.level} members={self.members}"
                f" entries={len(self._entries)} bytes={self.bytes} hits={self.hits} misses={self.misses}>")
