"""The destination contract: settings, render, payloads, request building, answers, connection test.

A destination is pure: it owns no socket, timer, queue or retry loop; the pipeline does all I/O. What it
declares, in the order the pipeline uses it (every hook is a method of :class:`Destination`, with a
default where one makes sense; the pipeline never looks a hook up by name):

1. settings: ``settings_class``, parsed from a config-file entry (OpenRouter's camelCase keys, such as
   ``baseUrl``, are accepted as well as snake_case), checked by ``validate``;
2. render: ``new_encoder()`` turns records into one batch body;
3. payloads: ``payloads(body, records)`` cuts the body into the payloads of the batch's requests
   (``requests_per_batch`` of them, always in the same order; most destinations: one, the body itself),
   each carrying beside its bytes what its request needs (an object key, a URL), never inside them;
4. compression, a shared step: the pipeline compresses each payload with the destination's ``compressor``;
5. request building: ``build_request(payload, wire, content_encoding)`` gets the exact bytes sent and
   their Content-Encoding, so whatever covers the body (S3's SigV4, a webhook's HMAC) covers the bytes on
   the wire; by default it is ``request(wire)`` plus the Content-Encoding header;
6. answers: ``classify`` (and ``poll_request`` for a receiver that answers "still working");
7. connection test: ``test_payload`` (the probe, built and compressed like any payload), ``test_refusal``
   and ``hint``; previews: ``preview_payload`` and ``preview_note``;
8. secrets: ``secret_headers`` and ``secret_values()`` (credentials only the destination can tell, such as
   the key inside Sentry's DSN), scrubbed from every receiver answer spancast keeps, logs or prints.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit
from typing import Annotated, Any, ClassVar, Iterable, Mapping, Sequence

import msgspec

from ..codec.ids import id_salt, namespace_salt
from ..errors import ConfigError, lower_first
from ..pipeline.compress import Compressor
from ..pipeline.retry import OTLP_RETRYABLE, Decision, decide
from ..probe import OPENROUTER_TEST_NAME, TEST_NAME, test_record
from ..routing import Route
from ._secret import merge_headers, settings_repr, settings_rich_repr

__all__ = ["Request", "Payload", "Destination", "CommonSettings", "Secret", "parse_settings", "snake_case"]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake_case(key: str) -> str:
    return _CAMEL.sub("_", key).lower()


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class Secret(str):
    """A credential: a str everywhere it is used (headers), ``'***'`` wherever it is shown.

    Settings fields typed Secret keep API keys out of the settings' repr (msgspec Struct reprs show
    every field), and so out of logs and tracebacks that print them."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Secret:
        if isinstance(value, str):
            return Secret(value)
        raise TypeError(f"expected a string, got {type(value).__name__}")  # the value itself is never shown
    raise NotImplementedError(kind)


def _where(url: str) -> str:
    """A URL as reprs show it: the scheme and host only, since a path or query may hold a credential
    (webhook tokens, signed URLs)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/..."


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as sent: ``body`` is the exact bytes on the wire (after compression)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes

    def __repr__(self) -> str:
        # Header values may be credentials: names only.
        return f"<Request {self.method} {_where(self.url)} headers={sorted(self.headers)} body={len(self.body)}B>"


@dataclass(frozen=True, slots=True)
class Payload:
    """The bytes one request carries, before compression, and what building that request needs beside
    them: metadata travels here, never inside the bytes."""

    body: bytes  # bytes, or a view into the batch body (Opik's two documents)
    key: str | None = None  # where the receiver stores it (S3's object key)
    url: str | None = None  # where it goes when not to the destination's own URL (Opik's spans; a probe)
    headers: Mapping[str, str] | None = None  # headers of this request only (the test's X-Test-Connection)

    def __repr__(self) -> str:
        extra = "".join((f" key={self.key!r}" if self.key is not None else "",
                         f" url={_where(self.url)}" if self.url is not None else "",
                         f" headers={sorted(self.headers)}" if self.headers else ""))
        return f"<Payload {len(self.body)}B{extra}>"


class CommonSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Settings every destination takes."""

    type: Annotated[str, msgspec.Meta(
        description="the destination's kind, e.g. langfuse or s3 (the sections below list them)",
    )]
    name: Annotated[str, msgspec.Meta(
        description="a unique label for stats, logs and errors (empty: the type); also seeds sampling and derived ids",
    )] = ""
    id_namespace: Annotated[str | None, msgspec.Meta(
        description="destinations with the same namespace derive the same trace and span ids (default: each its"
                    " own, from name); for different backends that should show one trace under one id",
    )] = None
    enabled: Annotated[bool, msgspec.Meta(
        description="false keeps the destination configured but sends it nothing",
    )] = True
    headers: Annotated[dict[str, str], msgspec.Meta(
        description="extra HTTP headers on every request (values never shown); the destination's own win",
    )] = {}
    compression: Annotated[str, msgspec.Meta(
        description="request body compression: none, gzip or zstd (sent as Content-Encoding)",
    )] = "none"
    compression_level: Annotated[int | None, msgspec.Meta(
        description="gzip 1-9 (default 1) or zstd 1-22 (default 2); only with compression set",
    )] = None
    timeout_s: Annotated[float, msgspec.Meta(
        description="seconds one request may take in all (connect to last byte) before it is retried",
    )] = 10.0
    # Routing (spancast.routing): which records this destination gets, and with or without content.
    api_key_hashes: Annotated[list[str] | None, msgspec.Meta(
        description="send only records made with these OpenRouter API key hashes (none: every record)",
    )] = None
    filter_rules: Annotated[dict[str, Any] | None, msgspec.Meta(
        description="OpenRouter's filter rules (groups of field, operator, value) a record must pass",
    )] = None
    sampling_rate: Annotated[float, msgspec.Meta(
        description="share of sessions sent, 0.0001 to 1: a whole session is in or out, per destination",
    )] = 1.0
    privacy_mode: Annotated[bool, msgspec.Meta(
        description="send no text of the user's or the model's: content, error messages, tool schemas go; metadata stays",
    )] = False
    # OpenRouter's "additional generation metadata": which of the record's generation_* groups go out.
    broadcast_generation_cost: Annotated[bool, msgspec.Meta(
        description="send the record's generation_cost (upstream, BYOK, cache and web search costs)",
    )] = False
    broadcast_generation_identity: Annotated[bool, msgspec.Meta(
        description="send the record's generation_identity (app name and URL, external user); privacy mode keeps it",
    )] = False
    broadcast_generation_request_context: Annotated[bool, msgspec.Meta(
        description="send the record's generation_context (router and provider latencies, region)",
    )] = False
    privacy_keep_error_messages: Annotated[bool, msgspec.Meta(
        description="in privacy mode, keep error messages (providers' errors may quote the input)",
    )] = False
    keep_media: Annotated[bool, msgspec.Meta(
        description="send images, audio and files as they are (default: each becomes a typed placeholder)",
    )] = False
    redact_fields: Annotated[list[str] | None, msgspec.Meta(
        description="fields never sent: user, error_message, trace.customer_email, model_parameters.tools, ...",
    )] = None
    redact_patterns: Annotated[list[str] | None, msgspec.Meta(
        description="built-in patterns masked in every text: email, card_number, ipv4",
    )] = None
    redact_regexes: Annotated[list[str] | None, msgspec.Meta(
        description="your own regular expressions (Python syntax), each match masked as <REDACTED>",
    )] = None

    # Header values are often credentials (a webhook's only auth): reprs show their names only.
    __repr__ = settings_repr
    __rich_repr__ = settings_rich_repr


_PATH = re.compile(r"\s+-\s+at\s+`\$(.*)`$")
_UNKNOWN = re.compile(r"unknown field `([^`]+)`")
_MISSING = re.compile(r"missing required field `([^`]+)`")
_HEAD = re.compile(r"\.([^.\[]+)(.*)")  # a path's top-level key and the rest (.api_key_hashes[0])


def parse_settings(mapping: Mapping[str, Any], cls: type[msgspec.Struct], where: str) -> Any:
    """The mapping as settings of type cls; a ConfigError names the bad key as where.key."""
    if not isinstance(mapping, Mapping):
        raise ConfigError(where, f"expected a mapping, got {type(mapping).__name__}")
    data: dict[str, Any] = {}
    given: dict[str, str] = {}  # snake_case name -> the key as written, for error paths
    for key, value in mapping.items():
        name = snake_case(key) if isinstance(key, str) else key
        if name in data:
            raise ConfigError(f"{where}.{key}", f"given twice (as {given[name]} too)")
        data[name] = value
        given[name] = key
    try:
        return msgspec.convert(data, cls, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path = ""
        match = _PATH.search(message)
        if match:
            message, path = message[: match.start()], match.group(1)
        unknown = _UNKNOWN.search(message)
        if unknown and not path:  # a top-level key: list the valid ones, the closest first
            key = given.get(unknown.group(1), unknown.group(1))
            raise ConfigError(f"{where}.{key}", unknown_key_reason(key, cls.__struct_fields__)) from None
        for pattern in (_UNKNOWN, _MISSING):
            found = pattern.search(message)
            if found:
                # A missing key was not written at all: name it the way OpenRouter writes it (apiKey).
                key = given.get(found.group(1)) or (camel_case(found.group(1)) if pattern is _MISSING else found.group(1))
                path = f"{path}.{key}"
                message = message.replace(f"`{found.group(1)}`", f"`{key}`")
        head = _HEAD.match(path)
        if head:  # name the top-level key as the user wrote it (baseUrl, not base_url)
            path = "." + given.get(head.group(1), head.group(1)) + head.group(2)
        raise ConfigError(where + path, lower_first(message)) from None


def unknown_key_reason(key: str, known: Iterable[str]) -> str:
    """'unknown key; did you mean `path`? expected one of ...', in the spelling the key was written in
    (camelCase in OpenRouter's JSON, snake_case in TOML)."""
    camel = any(c.isupper() for c in key)
    names = sorted(camel_case(k) if camel else k for k in known)
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`? " if close else ""
    return f"unknown key; {hint}expected one of {', '.join(names)}"


class Destination:
    """Base of the destination types: the parts every one has."""

    type: ClassVar[str]
    settings_class: ClassVar[type[CommonSettings]] = CommonSettings
    retryable: ClassVar[frozenset[int]] = OTLP_RETRYABLE
    #: How the pipeline carries a request: "http", or "file" (appended to a local file).
    transport: ClassVar[str] = "http"
    #: Header names whose values are credentials, for masking in previews and logs.
    secret_headers: ClassVar[frozenset[str]] = frozenset({"authorization"})
    #: The largest request body the receiver takes (None: no limit of its own). The pipeline's lane
    #: batches to min(the broadcaster's max_batch_bytes, this).
    max_batch_bytes: ClassVar[int | None] = None
    #: The most records one request may carry (None: no limit of its own; S3's per-trace objects: 1).
    max_batch_records: ClassVar[int | None] = None
    #: How many requests carry one batch: payloads() returns this many, always in the same order, so
    #: that the halves of a batch split by a 413 on request k start at request k (the earlier ones were
    #: taken for all of its records).
    requests_per_batch: ClassVar[int] = 1

    def __init__(self, mapping: Mapping[str, Any], where: str = "destination") -> None:
        self.settings = parse_settings(mapping, self.settings_class, where)
        if self.settings.type != self.type:
            raise ConfigError(f"{where}.type", f"expected {self.type!r}, got {self.settings.type!r}")
        self.name = self.settings.name or self.type
        #: Seeds every id this destination derives (spancast.codec.ids): two destinations share one only
        #: when they name the same id_namespace.
        if self.settings.id_namespace == "":
            raise ConfigError(f"{where}.id_namespace", "must not be empty (leave it out: ids of this destination's own)")
        self.id_salt = namespace_salt(self.settings.id_namespace) if self.settings.id_namespace else id_salt(self.name)
        if self.settings.timeout_s <= 0:
            raise ConfigError(f"{where}.timeout_s", f"must be > 0, got {self.settings.timeout_s}")
        try:
            self.compressor = Compressor(self.settings.compression, self.settings.compression_level)
        except ConfigError as exc:
            raise ConfigError(f"{where}.{exc.path}", exc.reason) from None
        written = {snake_case(key): key for key in mapping if isinstance(key, str)}
        self.route = Route.from_settings(self.settings, self.name, where, written)
        self.validate(where)

    def validate(self, where: str) -> None:
        """Checks beyond the types (URLs and the like); raise ConfigError naming the key."""

    # ------------------------------------------------------------ render, payloads, requests

    def new_encoder(self, format: str | None = None) -> Any:
        """An encoder that renders records into one batch body (append, extend, finish)."""
        raise NotImplementedError(f"{type(self).__name__} renders no records")

    def payloads(self, body: bytes, records: Sequence[Any] = ()) -> list[Payload]:
        """The batch body (records: what it was rendered from, when known) as the payloads of its
        requests, in the order they are sent: requests_per_batch of them. By default one, the body."""
        return [Payload(body)]

    def request(self, body: bytes) -> Request:
        """The request that carries body, the exact bytes sent (already compressed when compression is
        on), without Content-Encoding: build_request adds it."""
        raise NotImplementedError(f"{type(self).__name__} describes no requests")

    def build_request(self, payload: Payload, wire: bytes, content_encoding: str | None) -> Request:
        """The request for one payload: wire is its bytes as sent (compressed into content_encoding,
        None when not). By default request(wire), sent where the payload says, with its headers and the
        Content-Encoding. Override it when the request depends on the payload's metadata (S3's key)."""
        request = self.request(wire)
        extra = dict(payload.headers or {})
        if content_encoding:
            extra["Content-Encoding"] = content_encoding
        if not extra and payload.url is None:
            return request
        return Request(request.method, payload.url or request.url, merge_headers(request.headers, extra),
                       request.body)

    def wire_request(self, payload: Payload) -> Request:
        """The request for a payload compressed here, on the caller's thread (tests, previews, a
        connection test; the pipeline compresses off the loop when a body is big)."""
        return self.build_request(payload, self.compressor.compress(payload.body), self.compressor.content_encoding)

    def poll_request(self, url: str) -> Request:
        """The request that asks how a batch the receiver answered PENDING is going (its poll_url)."""
        raise NotImplementedError(f"{type(self).__name__} never answers pending")

    # ------------------------------------------------------------ answers

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Decision:
        return decide(status, headers, retryable=self.retryable)

    # ------------------------------------------------------------ connection test and previews

    def test_payload(self) -> tuple[Payload, frozenset[int]]:
        """The connection test's payload, and the statuses besides 2xx that still pass. By default the test
        record, rendered and cut into payloads as any record is (its first payload)."""
        encoder = self.new_encoder()
        # a destination rendering OpenRouter's own attributes names the test span as OpenRouter does
        openrouter = getattr(getattr(encoder, "plan", None), "name", None) == "openrouter"
        record = test_record(name=OPENROUTER_TEST_NAME if openrouter else TEST_NAME)
        encoder.append(record)
        return self.payloads(encoder.finish(), [record])[0], frozenset()

    def test_request(self) -> tuple[Request, frozenset[int]]:
        """The connection test as sent (test_payload compressed, then built like any request), and the
        statuses besides 2xx that pass."""
        payload, also_ok = self.test_payload()
        return self.wire_request(payload), also_ok

    def test_refusal(self, status: int | None, answer: str) -> str | None:
        """Why a connection test the receiver answered with a 2xx still failed, from the start of its answer
        (BigQuery's 200 lists the rows it would not take); None, the default: a 2xx passes."""
        return None

    def hint(self, status: int | None, excerpt: str) -> str | None:
        """The usual cause of a failed connection test at this receiver; None, the default: the generic hint."""
        return None

    def preview_payload(self, payloads: list[Payload]) -> Payload:
        """What a preview shows of a batch's payloads: the one there is, by default."""
        return payloads[0]

    def secret_values(self) -> Iterable[str]:
        """Credentials only the destination can tell (Sentry: the public key inside its DSN), masked by
        spancast.scrub wherever a receiver repeats them; the Secret settings and headers need not be listed."""
        return ()

    def preview_note(self) -> str | None:
        """What a preview adds about how the body is delivered (Redis: one XADD per line); None: nothing."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} type={self.type}>"
