"""The ``s3`` destination: trace objects PUT into Amazon S3 or any S3-compatible store (R2, MinIO), SigV4-signed.

Settings, as OpenRouter names them (https://openrouter.ai/docs/guides/features/broadcast/s3 and the
``s3`` config of its observability-destination API; camelCase or snake_case):

    bucketName       required; letters, digits, ``.``, ``_``, ``-``
    accessKeyId      required (a Secret: shown as '***')
    secretAccessKey  required (a Secret)
    sessionToken     optional, for temporary credentials (a Secret; sent as X-Amz-Security-Token)
    region           optional, default ``us-east-1``. OpenRouter auto-detects it on AWS; spancast does
                     no I/O to find it out: a wrong region is answered 301 PermanentRedirect or 400
                     AuthorizationHeaderMalformed naming the right one (Test Connection shows it).
    endpoint         optional http(s) URL of an S3-compatible service (R2:
                     ``https://<account>.r2.cloudflarestorage.com``, MinIO ``http://host:9000``).
                     Without it: ``https://s3.<region>.amazonaws.com``.
    prefix           default ``openrouter-traces``
    pathTemplate     default ``{prefix}/{date}``; variables ``{prefix} {date} {year} {month} {day}
                     {apiKeyName}``. Dates are the UTC day of the generation's start, not of the upload,
                     so a retry past midnight lands on the same key.
    headers          extra headers, signed with the rest (``x-amz-server-side-encryption``,
                     ``x-amz-storage-class``, ``x-amz-acl``, ``Cache-Control``, ...)

Beyond OpenRouter: ``layout`` (``trace``, the default, or ``ndjson``; below), ``compression`` (``none``,
the default, or ``gzip``: the object is stored gzipped, with ``Content-Encoding: gzip`` and a ``.gz``
suffix) and ``pathStyle`` (``true``: ``<endpoint>/<bucket>/<key>``; ``false``: ``<bucket>.<host>/<key>``;
unset: path style for a custom endpoint, virtual-hosted style on AWS unless the bucket name is not a
DNS label, e.g. has dots). Keys use letters, digits and ``_ - . ~ /`` in the template's fixed text
(``= : @ , ; ! $ & ' ( ) *`` are refused: the HTTP client re-encodes them in transit, which breaks
the signature); values from records (ids, ``apiKeyName``) have any other character replaced.

Layouts and keys (each deterministic, so a redelivered object overwrites itself rather than
duplicating; broadcast.md §5 point 7):

``trace`` (OpenRouter's): one object per generation, ``<path>/<traceId>-<start>.json`` where
``<start>`` is the generation's start in unix seconds (``openrouter-traces/2024-01-15/abc123-1705312800.json``).
The object is the Langfuse-like trace document OpenRouter writes (below), one line of JSON, so Athena's
JSON SerDe reads it too. When the caller set ``trace.trace_id``, several generations share that trace
id (and perhaps a second): their keys get ``-<generation id>`` appended so one cannot overwrite
another. The pipeline sends one record per request for this layout (``max_batch_records = 1``).

``ndjson``: one object per batch, one trace document per line, ``<path>/<start>-<first id>-<last id>.ndjson``
(``.ndjson.gz`` gzipped), ``<path>`` and ``<start>`` from the batch's first generation, the ids its
first and last generation ids. Far fewer PUTs (S3 bills per request): the batch closes at the
broadcaster's max_batch_records / max_batch_bytes (counted before gzip) / flush_interval_s. A retry
sends the same body to the same key; a 413 split writes the halves under keys of their own.

An id that is not a plain ``[A-Za-z0-9._-]{1,128}`` appears in a key cleaned and followed by ``~`` and
a 16-hex hash of the original, so distinct ids never share a key.

The document (shape from OpenRouter's S3 page and receiver code that reads real objects): ``id`` (the
caller's ``trace.trace_id``, else a 32-hex trace id derived as the OTLP destinations derive theirs),
``name`` (trace_name, else the generation's name), ``timestamp``, ``userId``, ``sessionId``,
``apiKeyName``, ``input`` (``{"messages": [...]}`` or ``{"prompt": ...}``), ``output`` (an assistant
message: ``content``, ``reasoning``, ``tool_calls``), ``metadata`` (the custom ``trace`` keys) and
``observations``: a SPAN when ``trace.span_name`` is set, then the GENERATION (``id`` = the generation
id, ``name``, ``model``, ``providerName``, ``promptTokens``, ``completionTokens``, ``totalTokens``, cached
/ cache-write / reasoning tokens, ``inputCost``, ``outputCost``, ``totalCost``, ``startTime``, ``endTime``,
``completionStartTime``, ``finishReason`` (the provider's), ``normalizedFinishReason``, ``level`` /
``statusMessage`` for errors, ``modelParameters``, ``providerAttempts``, ``metadata``). Metadata sits both
at the top (OpenRouter's Athena example reads it there) and in each observation (where its page says
it is). Times are ISO 8601 UTC with milliseconds. Privacy mode removes the content fields before
rendering, so no ``input`` / ``output`` is written.

Signing: AWS Signature Version 4 by botocore (the optional extra ``spancast[s3]``, imported when an
s3 destination is configured): ``S3SigV4Auth`` over an ``AWSRequest`` with ``Credentials``. Every
header is signed (Host, Content-Type, Content-Encoding, the user's), and the payload too:
``X-Amz-Content-SHA256`` is the SHA-256 of the exact bytes sent. The pipeline's shared compression step
gzips the object (``compression: gzip``), and ``build_request`` gets those gzipped bytes and their
Content-Encoding, so the signature covers what goes on the wire. It signs at call time (each attempt gets
a fresh X-Amz-Date). The key travels beside the body, in the batch's payload (``payloads(body, records)``
makes it from the batch's first and last records), never inside it. A RequestTimeTooSkewed answer sets a clock offset from the server's Date header and
is retried, as botocore does. The signer is botocore's, minus its DEBUG log of the canonical request,
which would carry the session token. The key is sent percent-encoded exactly as it was signed.

Test Connection (``test_payload``, broadcast.md §1.7: a permission probe): a PutObject of
``<path for today>/.spancast-connection-test.json`` (``.ndjson``; ``.gz``): the connection-test record
rendered as this layout renders records, with the same headers and signature, so it proves
``s3:PutObject`` exactly where traces go. It overwrites itself on every test; Athena and Hive skip
files whose names start with a dot.

Answers (S3 error XML ``<Code>``; https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html):
SlowDown / 503, InternalError / 500, 502, 504, 429, RequestTimeout, OperationAborted, BadDigest,
XAmzContentSHA256Mismatch are retried (503 and SlowDown back the concurrency limit off); EntityTooLarge
and 413 split the batch; AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, NoSuchBucket,
AuthorizationHeaderMalformed (wrong region), PermanentRedirect (another region or endpoint),
ExpiredToken, InvalidToken and every other 4xx are permanent.

Docs relied on: S3 PutObject (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html),
SigV4 for S3 (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html),
virtual-hosted vs path-style addressing (https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html),
object key naming (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html), and the
Cloudflare R2 / MinIO S3 API pages for endpoints and the ``auto`` / ``us-east-1`` region.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from types import SimpleNamespace
from typing import Annotated, Any, ClassVar, Iterable, Literal, Mapping, Sequence
from urllib.parse import quote, urlsplit

import msgspec
import orjson

from ..codec.ids import hash64
from ..errors import ConfigError, EncodeError
from ..pipeline.retry import Action, Decision, decide
from ._secret import check_header_value, merge_headers
from ..probe import test_record
from .base import CommonSettings, Destination, Payload, Request, Secret
from .events import EventEncoder
from .otlp import check_url
from .s3_document import trace_document, trace_id_of

__all__ = ["S3Settings", "S3Destination", "ObjectEncoder", "VARIABLES", "TEST_OBJECT"]

VARIABLES = ("prefix", "date", "year", "month", "day", "apiKeyName")
TEST_OBJECT = ".spancast-connection-test"
DEFAULT_REGION = "us-east-1"
CONTENT_TYPES = {"trace": "application/json", "ndjson": "application/x-ndjson"}
EXTENSIONS = {"trace": ".json", "ndjson": ".ndjson"}
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
SEED_KEY = 0x53335F4B  # the hash seed of ids that cannot appear in a key as they are

_VAR = re.compile(r"\{([^{}]*)\}")
_LITERAL = re.compile(r"[\w./~-]*")  # template text that survives the trip to the server as signed
_PLAIN_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_NOT_ID = re.compile(r"[^A-Za-z0-9._-]+")
_NOT_PATH_VALUE = re.compile(r"[^\w.-]+")
_BUCKET = re.compile(r"[A-Za-z0-9._-]{1,255}")
_DNS_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_REGION = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CODE = re.compile(rb"<Code>([^<]{1,128})</Code>")
_REGION_IN_ERROR = re.compile(rb"<Region>([^<]{1,64})</Region>")
_SERVER_TIME = re.compile(rb"<ServerTime>([^<]{1,64})</ServerTime>")

# S3 error codes (the XML <Code>) and what to do about them; anything else goes by its status.
RETRY_CODES = frozenset({"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "OperationAborted",
                         "BadDigest", "XAmzContentSHA256Mismatch", "RequestTimeTooSkewed"})
SPLIT_CODES = frozenset({"EntityTooLarge"})
HINTS = {
    "AccessDenied": "the credentials may not s3:PutObject here (IAM or bucket policy, or a KMS key policy)",
    "InvalidAccessKeyId": "no such access key at this endpoint: check accessKeyId, endpoint and region",
    "SignatureDoesNotMatch": "secretAccessKey does not belong to accessKeyId",
    "NoSuchBucket": "no bucket of that name at this endpoint and region: check bucketName",
    "AuthorizationHeaderMalformed": "wrong region for this bucket: set region",
    "PermanentRedirect": "the bucket lives in another region or endpoint: set region (or endpoint)",
    "ExpiredToken": "the temporary credentials expired: renew sessionToken and its keys",
    "InvalidToken": "sessionToken is malformed or does not match the keys",
}


@functools.cache
def _aws() -> SimpleNamespace:
    """botocore's pieces (imported on first use: botocore is the optional extra ``spancast[s3]``)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    class Signer(S3SigV4Auth):
        """botocore's S3 SigV4 signer, with the time spancast gives it (the local clock corrected by any
        skew the server reported) and without botocore's DEBUG log of the canonical request, which
        carries the session token. The steps and every computation are botocore's own (its add_auth)."""

        def __init__(self, credentials: Any, region: str, timestamp: str) -> None:
            super().__init__(credentials, "s3", region)
            self._timestamp = timestamp

        def add_auth(self, request: Any) -> None:
            request.context["timestamp"] = self._timestamp
            self._modify_request_before_signing(request)  # X-Amz-Date, X-Amz-Security-Token, X-Amz-Content-SHA256
            canonical = self.canonical_request(request)
            signature = self.signature(self.string_to_sign(request, canonical), request)
            self._inject_signature_to_request(request, signature)

    return SimpleNamespace(Signer=Signer, AWSRequest=AWSRequest, Credentials=Credentials)


class S3Settings(CommonSettings, kw_only=True, forbid_unknown_fields=True):
    bucket_name: Annotated[str, msgspec.Meta(
        description="the bucket objects are written to (the credentials need s3:PutObject on it)",
    )]
    access_key_id: Annotated[Secret, msgspec.Meta(
        description="access key id of the credentials (AKIA... or ASIA... on AWS; R2 and MinIO have theirs)",
    )]
    secret_access_key: Annotated[Secret, msgspec.Meta(description="the secret access key paired with access_key_id")]
    session_token: Annotated[Secret | None, msgspec.Meta(
        description="session token of temporary (STS) credentials, sent as X-Amz-Security-Token",
    )] = None
    region: Annotated[str | None, msgspec.Meta(
        description="the bucket's region, e.g. eu-west-1 (none: us-east-1; R2 takes auto); not detected",
    )] = None
    endpoint: Annotated[str | None, msgspec.Meta(
        description="URL of an S3-compatible store (R2, MinIO); none: AWS (https://s3.{region}.amazonaws.com)",
    )] = None
    prefix: Annotated[str, msgspec.Meta(
        description="the text {prefix} stands for in path_template",
    )] = "openrouter-traces"
    path_template: Annotated[str, msgspec.Meta(
        description="object key path: {prefix} {date} {year} {month} {day} {apiKeyName} (generation's UTC day)",
    )] = "{prefix}/{date}"
    layout: Annotated[Literal["trace", "ndjson"], msgspec.Meta(
        description="trace: one JSON object per generation; ndjson: one object per batch, a line per generation",
    )] = "trace"
    path_style: Annotated[bool | None, msgspec.Meta(
        description="true: {endpoint}/{bucket}/key; false: {bucket}.{host}/key; none: virtual-hosted on AWS if it can",
    )] = None


class S3Destination(Destination):
    """PUTs trace objects into one bucket; see the module docstring for layouts, keys and signing."""

    type = "s3"
    settings_class = S3Settings
    retryable = frozenset({429, 500, 502, 503, 504})
    # X-Amz-Date is not a credential: it is masked so that previews (and golden files) do not change
    # with the clock. The access key id only appears inside Authorization.
    secret_headers = frozenset({"authorization", "x-amz-security-token", "x-amz-date"})
    #: Records per request: 1 for the trace layout (one object per generation), set per instance.
    max_batch_records: ClassVar[int | None] = None

    def validate(self, where: str) -> None:
        s = self.settings
        try:
            self._botocore = _aws()
        except ImportError:
            raise ConfigError(f"{where}.type",
                              "the s3 destination needs botocore: pip install 'spancast[s3]'") from None
        if not _BUCKET.fullmatch(s.bucket_name):
            raise ConfigError(f"{where}.bucketName", "expected 1 to 255 letters, digits, '.', '_' or '-'")
        for key, value in (("accessKeyId", s.access_key_id), ("secretAccessKey", s.secret_access_key),
                           ("sessionToken", s.session_token)):
            if value is not None:
                check_header_value(value, f"{where}.{key}")
        self.region = s.region or DEFAULT_REGION
        if not _REGION.fullmatch(self.region):
            raise ConfigError(f"{where}.region", f"expected a region name such as us-east-1 or auto, got {s.region!r}")
        if s.endpoint:
            check_url(s.endpoint, f"{where}.endpoint")
            parts = urlsplit(s.endpoint)
            if parts.query or parts.fragment:
                raise ConfigError(f"{where}.endpoint", "expected a base URL without a query or fragment")
        if self.compressor.kind not in ("none", "gzip"):
            raise ConfigError(f"{where}.compression", "S3 objects are stored as sent: none or gzip (readers such"
                                                      " as Athena take gzipped objects, not zstd ones)")
        self.gzipped = self.compressor.kind == "gzip"
        self._template = _compile(s.path_template, s.prefix, where)
        self.layout = s.layout
        self.content_type = CONTENT_TYPES[s.layout]
        self.extension = EXTENSIONS[s.layout] + (".gz" if self.gzipped else "")
        if s.layout == "trace":
            self.max_batch_records = 1  # type: ignore[misc]  # one object per generation
        self._base = _base_url(s, self.region)
        self._credentials = self._botocore.Credentials(s.access_key_id, s.secret_access_key, s.session_token)
        self._clock_offset_s = 0.0  # server time minus local time, once a server said the clock is off

    # ------------------------------------------------------------ rendering

    @property
    def url(self) -> str:
        """Where objects go: the bucket's base URL (each key is appended)."""
        return self._base

    def new_encoder(self, format: str | None = None) -> ObjectEncoder:
        return ObjectEncoder(self)

    def render(self, record: Any) -> bytes:
        """One record as its trace document (one line of JSON)."""
        return orjson.dumps(trace_document(record, self.id_salt))

    def object_key(self, first: Any, last: Any) -> str:
        """The key of an object holding first..last (one record in the trace layout)."""
        start_s = first.start_time_ns // 1_000_000_000
        if self.layout == "trace":
            given, trace_id = trace_id_of(first, self.id_salt)
            name = f"{_id_part(trace_id)}-{start_s}"
            if given:  # several generations can share a caller's trace id: keep them apart
                name += f"-{_id_part(first.id)}"
        else:
            name = f"{start_s}-{_id_part(first.id)}"
            if last is not first:
                name += f"-{_id_part(last.id)}"
        return _join(self.path(first.start_time_ns, first.api_key_name), name + self.extension)

    def path(self, start_ns: int, api_key_name: str | None) -> str:
        """The expanded pathTemplate for a generation that started at start_ns (UTC day)."""
        year, month, day = time.gmtime(start_ns // 1_000_000_000)[:3]
        values = {"date": f"{year:04d}-{month:02d}-{day:02d}", "year": f"{year:04d}", "month": f"{month:02d}",
                  "day": f"{day:02d}", "apiKeyName": _path_value(api_key_name or "unknown")}
        text = "".join(values[text] if is_var else text for is_var, text in self._template)
        return "/".join(segment for segment in text.split("/") if segment)

    # ------------------------------------------------------------ requests

    def object_url(self, key: str) -> str:
        return self._base + quote(key, safe="/~")

    def payloads(self, body: bytes, records: Sequence[Any] = ()) -> list[Payload]:
        """The object: the body, and beside it the key it is stored under, from its first and last records
        (without records, a key made from the body's content)."""
        key = self.object_key(records[0], records[-1]) if records else self._fallback_key(body)
        return [Payload(body, key=key)]

    def build_request(self, payload: Payload, wire: bytes, content_encoding: str | None) -> Request:
        """The PutObject of wire, the object as sent (gzipped when compression is on), under the payload's
        key; every header, Content-Encoding too, and the SHA-256 of wire are signed."""
        key = payload.key or self._fallback_key(payload.body)
        url = self.object_url(key)
        own = {"Content-Type": self.content_type}
        if content_encoding:
            own["Content-Encoding"] = content_encoding
        headers = merge_headers(self.settings.headers, own)
        return Request("PUT", url, self._sign(url, headers, wire), wire)

    def request(self, body: bytes) -> Request:
        """The PutObject of body as it is (not compressed), under a key made from its content."""
        return self.build_request(Payload(body), body, None)

    def _fallback_key(self, body: bytes) -> str:
        """A key for a body that lost its own (plain bytes: a preview of raw bytes, a body from elsewhere):
        content-addressed, so the same body still lands on the same key."""
        digest = hashlib.sha256(bytes(body)).hexdigest()[:40]
        return _join(self.path(time.time_ns(), None), f"spancast-{digest}{self.extension}")

    def _sign(self, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        now = datetime.fromtimestamp(time.time() + self._clock_offset_s, timezone.utc)
        aws = self._botocore.AWSRequest(method="PUT", url=url, data=body, headers=dict(headers))
        self._botocore.Signer(self._credentials, self.region, now.strftime(SIGV4_TIMESTAMP)).add_auth(aws)
        return dict(aws.headers.items())

    def test_payload(self) -> tuple[Payload, frozenset[int]]:
        """A permission probe: PutObject of the connection-test record, rendered, compressed and signed like
        any object, at ``<path for today>/.spancast-connection-test.json`` (overwritten by every test)."""
        record = test_record()
        encoder = self.new_encoder()
        encoder.append(record)
        key = _join(self.path(record.start_time_ns, record.api_key_name), TEST_OBJECT + self.extension)
        return Payload(encoder.finish(), key=key), frozenset()

    # ------------------------------------------------------------ answers

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Decision:
        if 200 <= status < 300:
            return Decision(Action.DELIVERED, status)
        found = _CODE.search(body or b"")
        code = found.group(1).decode("ascii", "replace") if found else ""
        if code in SPLIT_CODES:
            return Decision(Action.SPLIT, status, reason=code)
        if code == "RequestTimeTooSkewed":
            self._correct_clock(headers, body)
        if code in RETRY_CODES or status in self.retryable:
            decision = decide(status, headers, retryable=self.retryable | {status})
            return Decision(Action.RETRY, status, decision.retry_after_s,
                            decision.overload or code == "SlowDown", code or decision.reason)
        decision = decide(status, headers, retryable=self.retryable)
        if code:
            hint = HINTS.get(code, "")
            if code in ("AuthorizationHeaderMalformed", "PermanentRedirect"):
                region = _REGION_IN_ERROR.search(body or b"")
                named = region.group(1).decode("ascii", "replace") if region else None
                named = named or _header(headers, "x-amz-bucket-region")
                if named:
                    hint += f" (the bucket's region: {named})"
            return Decision(decision.action, status, decision.retry_after_s, decision.overload,
                            f"{code}: {hint}" if hint else code)
        return decision

    def _correct_clock(self, headers: Mapping[str, str], body: bytes) -> None:
        """Sign later requests with the server's time: its Date header, else the ServerTime in the error."""
        server: datetime | None = None
        date = _header(headers, "date")
        try:
            if date:
                server = parsedate_to_datetime(date)
            else:
                found = _SERVER_TIME.search(body or b"")
                if found:
                    server = datetime.fromisoformat(found.group(1).decode("ascii"))
        except (TypeError, ValueError, IndexError):
            server = None
        if server is not None and server.tzinfo is not None:
            self._clock_offset_s = server.timestamp() - time.time()

    def __repr__(self) -> str:
        return (f"<S3Destination name={self.name!r} bucket={self.settings.bucket_name!r} layout={self.layout}"
                f"{' gzip' if self.gzipped else ''}>")


class ObjectEncoder(EventEncoder):
    """One object's body: a trace document (trace layout: one record), or NDJSON lines (ndjson layout).
    Its key is not in it: payloads() makes it from the batch's records, and compression comes after."""

    format = "json"

    def __init__(self, destination: S3Destination) -> None:
        ndjson = destination.layout == "ndjson"
        super().__init__(destination.render, prefix=b"", separator=b"\n", suffix=b"\n" if ndjson else b"")
        self.destination = destination
        self.limit = None if ndjson else 1

    def append(self, record: Any, max_bytes: int = -1) -> int:
        if self.limit is not None and self.records >= self.limit:
            return 0  # the trace layout: one record per object
        return super().append(record, max_bytes)

    def extend(self, records: Iterable[Any]) -> None:
        for record in records:
            if not self.append(record):
                raise EncodeError("<batch>", "the trace layout stores one record per object")

    def __repr__(self) -> str:
        return f"<ObjectEncoder layout={self.destination.layout} records={self.records} bytes={self.size}>"


# ---------------------------------------------------------------- keys and URLs


def _compile(template: str, prefix: str, where: str) -> list[tuple[bool, str]]:
    """pathTemplate as (is a variable, text) parts, with {prefix} filled in; errors name the key."""

    def literal(text: str, key: str) -> str:
        if "{" in text or "}" in text:
            raise ConfigError(f"{where}.{key}", "unbalanced '{' or '}'")
        if not _LITERAL.fullmatch(text):
            bad = sorted({c for c in text if not _LITERAL.fullmatch(c)})
            raise ConfigError(f"{where}.{key}", f"character(s) {''.join(bad)!r} not allowed in object keys here;"
                                                " use letters, digits, '_', '-', '.', '~' and '/'")
        if any(segment in (".", "..") for segment in text.split("/")):
            raise ConfigError(f"{where}.{key}", "'.' and '..' cannot be path segments")
        return text

    literal(prefix, "prefix")
    parts: list[tuple[bool, str]] = []
    position = 0
    for found in _VAR.finditer(template):
        parts.append((False, literal(template[position:found.start()], "pathTemplate")))
        name = found.group(1)
        if name not in VARIABLES:
            known = " ".join("{" + v + "}" for v in VARIABLES)
            raise ConfigError(f"{where}.pathTemplate", f"unknown variable {{{name}}}; known: {known}")
        parts.append((False, prefix) if name == "prefix" else (True, name))
        position = found.end()
    parts.append((False, literal(template[position:], "pathTemplate")))
    return [part for part in parts if part[1]]


def _path_value(text: str) -> str:
    """A record's value (apiKeyName) as one path segment: word characters, '.', '-'; the rest become '_'."""
    cleaned = _NOT_PATH_VALUE.sub("_", text)
    return "_" if cleaned in ("", ".", "..") else cleaned


def _id_part(text: str) -> str:
    """An id as part of an object name: as it is when plain, else cleaned, '~' and a hash of the original."""
    if _PLAIN_ID.fullmatch(text) and text not in (".", ".."):
        return text
    cleaned = _NOT_ID.sub("_", text)[:64]
    return f"{cleaned}~{hash64(text.encode('utf-8', 'surrogatepass'), SEED_KEY):016x}"


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _base_url(s: S3Settings, region: str) -> str:
    """The URL objects' keys are appended to: path style <endpoint>/<bucket>/, or <bucket>.<host>/."""
    endpoint = (s.endpoint or f"https://s3.{region}.amazonaws.com").rstrip("/")
    path_style = s.path_style
    if path_style is None:
        path_style = bool(s.endpoint) or not _DNS_BUCKET.fullmatch(s.bucket_name)
    if path_style:
        return f"{endpoint}/{s.bucket_name}/"
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{s.bucket_name}.{parts.netloc}{parts.path}/"


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value
