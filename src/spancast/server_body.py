"""Reading a POST body for spancast serve's ingest routes: within the body deadline and the size limit, inflated
(gzip, deflate or zstd) up to that limit again, so that neither a large body nor a decompression bomb fills memory.

read_body returns the bytes, or a BodyRefusal (status and message) the route answers in its own format.
With a BufferPool, an uncompressed body is copied once, from the socket's chunks into a buffer that is
used again for the next request (warm memory: on this kind of VM a fresh megabyte costs a page fault per
4 KB), and handed over as a memoryview the caller releases.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator

from aiohttp import web

__all__ = ["ENCODINGS", "BodyRefusal", "BufferPool", "read_body"]

ENCODINGS = ("identity", "gzip", "deflate", "zstd")


class BufferPool:
    """Receive buffers used again request after request: at most max_kept of them, none larger than max_kept_bytes
    kept (a bigger body gets a buffer of its own, let go afterwards)."""

    def __init__(self, max_kept: int = 8, max_kept_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_kept, self.max_kept_bytes = max_kept, max_kept_bytes
        self._free: list[bytearray] = []

    def take(self) -> bytearray:
        return self._free.pop() if self._free else bytearray()

    def give_back(self, buffer: bytearray) -> None:
        if len(self._free) < self.max_kept and len(buffer) <= self.max_kept_bytes:
            self._free.append(buffer)

    def __repr__(self) -> str:
        return f"<BufferPool free={len(self._free)} sizes={[len(b) for b in self._free]}>"


class BodyRefusal(Exception):
    """Why a body is not taken: the HTTP status, a message, and whether the connection must close."""

    def __init__(self, status: int, message: str, close: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.close = status, message, close


def encoding_of(request: web.Request) -> str:
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower() or "identity"
    if encoding not in ENCODINGS:
        raise BodyRefusal(415, f"unsupported content encoding {encoding!r}; send gzip, deflate, zstd or none")
    return encoding


async def read_body(request: web.Request, max_bytes: int, timeout_s: float,
                    into: bytearray | None = None) -> bytes | memoryview:
    """The request's body, decompressed; raises BodyRefusal (413, 408, 400, 415). Given a buffer (from a
    BufferPool), an uncompressed body is read into it and returned as a memoryview of it: release the view
    before the buffer goes back to the pool."""
    encoding = encoding_of(request)
    if (request.content_length or 0) > max_bytes:  # said up front: refused before a byte is read
        raise BodyRefusal(413, f"body over {max_bytes} bytes", close=True)
    try:
        async with asyncio.timeout(timeout_s):
            if into is not None and encoding == "identity":
                return await _read_into(request, max_bytes, into)
            body = await _read(request, max_bytes)
    except TimeoutError:
        # what is left of the body will not be read: the connection ends here
        raise BodyRefusal(408, f"body not received within {timeout_s:g}s", close=True) from None
    if encoding == "identity":
        return body
    if encoding == "zstd":
        return _unzstd(body, max_bytes)
    return _inflate(body, encoding, max_bytes)


def _inflate(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """gzip (every member: RFC 1952 allows several, as pigz and appending writers make) or deflate, up to
    max_bytes once inflated; what follows a deflate stream is refused, never ignored."""
    parts: list[bytes] = []
    size, rest = 0, body
    while True:
        inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
        try:
            # Inflated up to the limit and no further: a gzip bomb cannot fill memory.
            out = inflater.decompress(rest, max_bytes + 1 - size)
        except zlib.error:
            raise BodyRefusal(400, f"cannot decode the {encoding} body") from None
        size += len(out)
        parts.append(out)
        if size > max_bytes or inflater.unconsumed_tail:
            raise BodyRefusal(413, f"body over {max_bytes} bytes once decompressed")
        if not inflater.eof:
            raise BodyRefusal(400, f"truncated {encoding} body")
        rest = inflater.unused_data
        if not rest:
            return parts[0] if len(parts) == 1 else b"".join(parts)
        if encoding != "gzip":
            raise BodyRefusal(400, f"data after the end of the {encoding} stream")


async def _chunks(request: web.Request, max_bytes: int) -> AsyncIterator[bytes]:
    """The body's chunks as aiohttp received them, up to max_bytes in all (BodyRefusal 413 past it). Not
    readany(): it joins every chunk buffered so far into one new bytes, a copy of most of a large body that
    arrives faster than the handler runs."""
    content, size = request.content, 0
    while True:
        chunk, end_of_http_chunk = await content.readchunk()
        if chunk:
            size += len(chunk)
            if size > max_bytes:
                raise BodyRefusal(413, f"body over {max_bytes} bytes", close=True)
            yield chunk
        elif not end_of_http_chunk:  # (b"", True) is only the end of one chunk of a chunked body
            return


async def _read(request: web.Request, max_bytes: int) -> bytes:
    """The body's chunks as they arrive, joined once (aiohttp's read() copies each into a bytearray, then
    the bytearray into bytes: a megabyte body twice more)."""
    chunks = [chunk async for chunk in _chunks(request, max_bytes)]
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _read_into(request: web.Request, max_bytes: int, buffer: bytearray) -> memoryview:
    size = 0
    async for chunk in _chunks(request, max_bytes):
        end = size + len(chunk)
        if end <= len(buffer):
            # through a memoryview: bytearray's own slice assignment first copies bytes into a new bytearray
            with memoryview(buffer) as view:
                view[size:end] = chunk
        else:  # past the buffer's end: what was there is dropped and the buffer grows by the chunk
            del buffer[size:]
            buffer += chunk
        size = end
    return memoryview(buffer)[:size]


def _unzstd(body: bytes, max_bytes: int) -> bytes:
    import io

    import zstandard

    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body), read_across_frames=True)
    try:
        out = reader.read(max_bytes + 1)  # read in chunks up to the limit: never more in memory
        while len(out) <= max_bytes:
            more = reader.read(max_bytes + 1 - len(out))
            if not more:
                break
            out += more
    except zstandard.ZstdError:
        raise BodyRefusal(400, "cannot decode the zstd body") from None
    if len(out) > max_bytes:
        raise BodyRefusal(413, f"body over {max_bytes} bytes once decompressed")
    if not out and body:
        raise BodyRefusal(400, "truncated zstd body")
    return out
