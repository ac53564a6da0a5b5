"""Reading a POST body for spancast serve's ingest routes: within the body deadline and the size limit, inflated
(gzip, deflate or zstd) up to that limit again, so that neither a large body nor a decompression bomb fills memory.

read_body returns the bytes, or a BodyRefusal (status and message) the route answers in its own format.
"""

from __future__ import annotations

import asyncio
import zlib

from aiohttp import web

__all__ = ["ENCODINGS", "BodyRefusal", "read_body"]

ENCODINGS = ("identity", "gzip", "deflate", "zstd")


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


async def read_body(request: web.Request, max_bytes: int, timeout_s: float) -> bytes:
    """The request's body, decompressed; raises BodyRefusal (413, 408, 400, 415)."""
    encoding = encoding_of(request)
    try:
        async with asyncio.timeout(timeout_s):
            body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyRefusal(413, f"body over {max_bytes} bytes") from None
    except TimeoutError:
        # what is left of the body will not be read: the connection ends here
        raise BodyRefusal(408, f"body not received within {timeout_s:g}s", close=True) from None
    if encoding == "identity":
        return body
    if encoding == "zstd":
        return _unzstd(body, max_bytes)
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        # Inflated up to the limit and no further: a gzip bomb cannot fill memory.
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error:
        raise BodyRefusal(400, f"cannot decode the {encoding} body") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise BodyRefusal(413, f"body over {max_bytes} bytes once decompressed")
    if not inflater.eof:
        raise BodyRefusal(400, f"truncated {encoding} body")
    return out


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
