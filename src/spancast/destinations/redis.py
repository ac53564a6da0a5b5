"""The ``redis`` destination: each record appended to a Redis stream (XADD, MAXLEN ~ N), for workers to deliver.

Gateways hand records off here in microseconds and durably (as durable as the Redis server is
configured to be: AOF with ``appendfsync everysec`` loses at most a second on a crash of Redis
itself); ``spancast worker`` processes on any machines then share the stream as one consumer group
and deliver to the real destinations (see spancast.sources.redis_stream).

Settings: ``url`` (required: ``redis://host:6379/0``, ``rediss://`` for TLS, ``unix:///path``; it
may hold ``user:password@``, which is masked wherever the URL is shown), ``username`` and
``password`` (a credential; ``password_file`` reads it from a file, ``${ENV}`` from the
environment), ``stream`` (the key), ``maxlen`` (the stream is trimmed to about this many entries;
0 never trims), ``field`` (the entry field holding the record).

Wire: one stream entry per record, ``XADD <stream> MAXLEN ~ <maxlen> * <field> <record JSON>``,
where the record JSON is the msgspec encoding of the Generation (what ``spancast send`` and the
server read, content removed under privacy mode). A batch's body is those documents one per line
(JSON never holds a raw newline); the pipeline's Redis transport (pipeline/redis_transport.py)
sends one pipeline of XADDs per batch, so a batch costs one round trip.

``~`` trimming removes whole macro nodes only (100 entries each by default), so the stream holds
a little more than maxlen; entries trimmed before a worker read them are lost to it: size maxlen
for the longest outage of the workers you want to ride out.
"""

from __future__ import annotations

import importlib.util
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import msgspec

from ..errors import ConfigError, EncodeError
from ..record import Generation
from ._secret import settings_rich_repr
from .base import CommonSettings, Destination, Request, Secret
from .events import EventEncoder

__all__ = ["RedisDestination", "RedisSettings", "encode_record", "masked_url"]

SCHEMES = ("redis", "rediss", "unix")
_encoder = msgspec.json.Encoder()


def masked_url(url: str) -> str:
    """The URL without what may be a credential: user info becomes ``***@``, a query ``?***``."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    shown = f"{parts.scheme}://{'***@' if netloc != parts.netloc else ''}{netloc}{parts.path}"
    return shown + ("?***" if parts.query else "")


def encode_record(record: Any) -> bytes:
    """One entry's value: the record as msgspec JSON (the worker decodes it back into a Generation)."""
    if not isinstance(record, Generation):  # only a Generation went through routing and privacy mode
        raise EncodeError("<record>", f"expected a Generation, got {type(record).__name__}")
    return _encoder.encode(record)


class RedisSettings(CommonSettings, kw_only=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(
        description="redis://host:6379/0, rediss:// for TLS or unix:///path; user:password@ in it is masked",
    )]
    username: Annotated[str | None, msgspec.Meta(description="Redis ACL user (none: the URL's, or default)")] = None
    password: Annotated[Secret | None, msgspec.Meta(description="that user's password (or give it in url)")] = None
    stream: Annotated[str, msgspec.Meta(description="the stream key records are appended to")] = (
        "spancast:generations")
    maxlen: Annotated[int, msgspec.Meta(
        description="trim the stream to about this many entries on every XADD (MAXLEN ~); 0 never trims",
    )] = 1_000_000
    field: Annotated[str, msgspec.Meta(description="the entry field that holds the record's JSON")] = "record"

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={masked_url(value) if name == 'url' else value!r}"
                           for name, value in settings_rich_repr(self))
        return f"{type(self).__name__}({fields})"

    def __rich_repr__(self):
        for name, value in settings_rich_repr(self):
            yield name, (masked_url(value) if name == "url" else value)


class RedisDestination(Destination):
    """Appends records to a Redis stream; the pipeline's Redis transport sends them."""

    type = "redis"
    settings_class = RedisSettings
    transport = "redis"

    def validate(self, where: str) -> None:
        s = self.settings
        parts = urlsplit(s.url)  # the URL is never echoed in an error: it may hold a password
        if parts.scheme not in SCHEMES:
            raise ConfigError(f"{where}.url", "expected redis://host:6379/0, rediss://... (TLS) or unix:///path")
        if parts.scheme != "unix" and not parts.hostname:
            raise ConfigError(f"{where}.url", "names no host")
        if s.password is not None and parts.password:
            raise ConfigError(f"{where}.password", "the url holds a password already: give one or the other")
        if not s.stream:
            raise ConfigError(f"{where}.stream", "must not be empty")
        if not s.field:
            raise ConfigError(f"{where}.field", "must not be empty")
        if s.maxlen < 0:
            raise ConfigError(f"{where}.maxlen", f"must be >= 0 (0: no trimming), got {s.maxlen}")
        if s.headers:
            raise ConfigError(f"{where}.headers", "Redis takes no HTTP headers")
        if self.compressor.kind != "none":
            raise ConfigError(f"{where}.compression", "entries are written as plain JSON")
        if importlib.util.find_spec("redis") is None:
            raise ConfigError(f"{where}.type", "needs the redis package: pip install 'spancast[redis]'")

    @property
    def location(self) -> str:
        """Where entries go, without credentials: the server, and the stream as a query."""
        s = self.settings
        trim = f"&maxlen=~{s.maxlen}" if s.maxlen else ""
        return f"{masked_url(s.url).removesuffix('?***')}?stream={quote(s.stream, safe=':')}{trim}"

    @property
    def encoding(self) -> str:
        return "json"

    def new_encoder(self, format: str | None = None) -> EventEncoder:
        """One record's JSON per line (format is ignored: entries have one rendering)."""
        return EventEncoder(encode_record, prefix=b"", separator=b"\n", suffix=b"\n")

    def request(self, body: bytes) -> Request:
        return Request("XADD", self.location, {}, bytes(body))

    def preview_note(self) -> str:
        s = self.settings
        trim = f" MAXLEN ~ {s.maxlen}" if s.maxlen else ""
        return f"each line is one entry: XADD {s.stream}{trim} * {s.field} <line>"
