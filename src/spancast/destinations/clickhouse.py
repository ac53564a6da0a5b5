"""ClickHouse (``clickhouse``): one row per generation, inserted over the HTTP interface as JSONEachRow.

Settings, as OpenRouter names them (https://openrouter.ai/docs/guides/features/broadcast/clickhouse):
``host`` (required: the HTTP(S) endpoint, e.g. ``https://clickhouse.example.com:8123``, or
``https://{instance}.{region}.clickhouse.cloud:8443`` on ClickHouse Cloud), ``database`` (default
``default``), ``table`` (default ``OPENROUTER_TRACES``), ``username`` (default ``default``),
``password`` (a credential, shown as ``'***'``), ``headers``. Plus spancast's ``authStyle``:
``basic`` (default; ``Authorization: Basic base64(username:password)``) or ``headers``
(``X-ClickHouse-User`` / ``X-ClickHouse-Key``, for proxies that strip Authorization). Both work on
ClickHouse 18.16 and on current releases. The auth headers come from username/password only: an
``Authorization`` or ``X-ClickHouse-*`` entry in ``headers`` is a configuration error (ClickHouse
refuses a request that mixes two ways of authenticating).

Database and table names must match ``[A-Za-z_][A-Za-z0-9_]*`` (at most 128 characters): they are
checked when the destination is built and written backquoted, so no other text ever reaches the SQL.

Wire (ClickHouse, "HTTP Interface", https://clickhouse.com/docs/interfaces/http; checked against a
real 18.16 server by tests/test_clickhouse.py):

- ``POST <host>/?query=INSERT%20INTO%20`<database>`.`<table>`%20FORMAT%20JSONEachRow``; the body is the
  rows, one JSON object per line (``Content-Type: application/x-ndjson``; ClickHouse reads the format
  from the query, not the content type). One request carries a whole batch: one INSERT, one block.
- No settings are sent in the query string (an unknown setting is an error on older servers), so the
  table must have every column below: create it with :func:`clickhouse_ddl`.
- ``compression: gzip`` sends ``Content-Encoding: gzip``, which every version decompresses; 18.16
  does not know ``zstd`` (Code 89), current releases do.
- Answers: 200 with an empty body when the rows are in. An error is a text body ``Code: NNN, ...``
  (18.x: ``Code: 60, e.displayText() = DB::Exception: Table x.y doesn't exist``; current releases:
  ``Code: 60. DB::Exception: ...`` plus an ``X-ClickHouse-Exception-Code: 60`` header) under an HTTP
  status the server derives from the code: 401/403 for credentials (18.16 answers 401 with Codes
  192/193; current releases 403 with Code 516), 400 for unparsable data, 404 for an unknown
  table/database, 408 for TIMEOUT_EXCEEDED, 503 for SOCKET_TIMEOUT, and 500 for everything else
  (READONLY 164, TOO_MANY_SIMULTANEOUS_QUERIES 202, MEMORY_LIMIT_EXCEEDED 241, TOO_MANY_PARTS 252, ...).
- :meth:`ClickHouseDestination.classify` therefore reads the code (header first, else the body) rather
  than the status: the codes in :data:`RETRYABLE_CODES` are retried (the overload ones also back the
  concurrency limit off), every other code is permanent (dropped, counted and logged with the server's
  message). A response without a code (a proxy, a load balancer) is judged by its status, as any
  destination's: 408/429/502/503/504 retried with Retry-After, 413 split, the rest permanent.

Test Connection (:meth:`ClickHouseDestination.test_payload`), the permission probe OpenRouter's BigQuery
test describes (https://openrouter.ai/docs/guides/features/broadcast/bigquery: read-only credentials
must fail up front), adapted: ``INSERT INTO `db`.`table` (<every column>) FORMAT JSONEachRow`` with an
empty body. It inserts nothing, and passes only when the credentials are right, the table exists,
it has every column spancast writes, and the user may insert into it: a missing table answers 404
(Code 60), a missing column Code 16, a read-only user Code 164, a user without the INSERT grant
Code 497 (ACCESS_DENIED, current releases).

The table (:data:`COLUMNS`, one row per generation; column names are OpenRouter's where its ClickHouse
docs name one, §3.3 of the spec; the others are spancast's). Absent values are written as the type's
zero ("" / 0; NaN and infinities too), JSON columns as "" when the record has nothing for them. A value
of the wrong type (possible in records built in Python) fails that record with an EncodeError naming the
field, rather than the whole INSERT on the server:

    column                  type      from the record
    GENERATION_ID           String    id (the idempotency key: the sorting key ends with it)
    TRACE_ID                String    trace.trace_id as given, else the trace id derived as the OTLP encoders do
    SPAN_ID                 String    the generation span's id (16 hex), derived as the OTLP encoders do
    PARENT_SPAN_ID          String    trace.parent_span_id as given
    TIMESTAMP               DateTime  start_time_ns, whole seconds (UTC); written as a unix-seconds number
    START_TIME_NS           UInt64    start_time_ns (DateTime64 is unknown to 18.16: precision lives here)
    END_TIME_NS             UInt64    end_time_ns
    DURATION_MS             Float64   (end - start) in milliseconds
    TIME_TO_FIRST_TOKEN_MS  Float64   time_to_first_token_ms
    USER_ID                 String    user
    SESSION_ID              String    session_id
    MODEL                   String    model
    RESPONSE_MODEL          String    response_model, else model
    PROVIDER_NAME           String    provider
    OPERATION               String    operation
    API_KEY_NAME            String    api_key_name
    STATUS                  String    status: 'ok' | 'error'
    LEVEL                   String    'DEFAULT', or 'ERROR' when status is error
    SPAN_TYPE               String    'GENERATION' (one row per generation)
    FINISH_REASON           String    finish_reason
    NATIVE_FINISH_REASON    String    native_finish_reason
    ERROR_TYPE              String    error_type
    ERROR_MESSAGE           String    error_message
    STREAMED                UInt8     streamed (1/0)
    CANCELLED               UInt8     cancelled (1/0)
    PROMPT_TOKENS           UInt64    prompt_tokens
    COMPLETION_TOKENS       UInt64    completion_tokens
    TOTAL_TOKENS            UInt64    total_tokens
    CACHED_TOKENS           UInt64    cached_tokens
    CACHE_WRITE_TOKENS      UInt64    cache_write_tokens
    REASONING_TOKENS        UInt64    reasoning_tokens
    INPUT_COST              Float64   input_cost (USD)
    OUTPUT_COST             Float64   output_cost (USD)
    TOTAL_COST              Float64   total_cost (USD)
    ATTRIBUTES              String    JSON: the generation span's OTel attributes (gen_ai flavour, e.g.
                                      gen_ai.request.model, trace.metadata.<key>), content excluded
    INPUT                   String    JSON: {"messages": [...], "prompt": "..."} (the ones present)
    OUTPUT                  String    JSON: {"completion": ..., "reasoning": ..., "tool_calls": [...]}
    METADATA                String    JSON: trace as given (trace_id, names, custom keys)
    MODEL_PARAMETERS        String    JSON: model_parameters
    PROVIDER_ATTEMPTS       String    JSON: provider_attempts [{provider, status, latency_ms, error}]

INPUT and OUTPUT are the only columns that carry content: under privacy mode routing removes the
content fields before the row is rendered, so both are "" (and ATTRIBUTES never holds content).

The DDL (:func:`clickhouse_ddl`) uses only what ClickHouse 18.16 and current releases both accept:
plain types (no DateTime64, no JSON type, no LowCardinality, no codecs), a ReplacingMergeTree (a
MergeTree that drops rows repeated with the same sorting key when it merges parts: delivery is at
least once, and a redelivered batch repeats rows exactly), ``PARTITION BY toYYYYMM(TIMESTAMP)`` and
``ORDER BY (TIMESTAMP, GENERATION_ID)``. Query with ``FINAL`` (or ``uniqExact(GENERATION_ID)``) where
exact counts matter before merges. The user inserting needs INSERT on the table only.
"""

from __future__ import annotations

import functools
import math
import re
import time
from typing import Annotated, Any, Literal, Mapping
from urllib.parse import quote, urlsplit

import msgspec
import orjson

from ..codec import IMPL, implementation
from ..codec import ids, values
from ..codec import shapes
from ..codec.plan import AttributePlan, Op, get_plan
from ..codec.wire import utf8
from ..errors import ConfigError, EncodeError
from ..pipeline.retry import OTLP_RETRYABLE, OVERLOAD, Action, Decision, decide, parse_retry_after
from ..record import Generation
from ._preset import basic_auth
from ._secret import check_header_value, merge_headers
from .base import CommonSettings, Destination, Payload, Request, Secret
from .events import EventEncoder

__all__ = [
    "COLUMNS",
    "RETRYABLE_CODES",
    "ClickHouseDestination",
    "ClickHouseSettings",
    "check_identifier",
    "clickhouse_ddl",
    "exception_code",
]

CONTENT_TYPE = "application/x-ndjson"
DEFAULT_DATABASE = "default"
DEFAULT_TABLE = "OPENROUTER_TRACES"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

#: (name, ClickHouse type) of every column, in the order rows carry them and the DDL declares them.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("GENERATION_ID", "String"),
    ("TRACE_ID", "String"),
    ("SPAN_ID", "String"),
    ("PARENT_SPAN_ID", "String"),
    ("TIMESTAMP", "DateTime"),
    ("START_TIME_NS", "UInt64"),
    ("END_TIME_NS", "UInt64"),
    ("DURATION_MS", "Float64"),
    ("TIME_TO_FIRST_TOKEN_MS", "Float64"),
    ("USER_ID", "String"),
    ("SESSION_ID", "String"),
    ("MODEL", "String"),
    ("RESPONSE_MODEL", "String"),
    ("PROVIDER_NAME", "String"),
    ("OPERATION", "String"),
    ("API_KEY_NAME", "String"),
    ("STATUS", "String"),
    ("LEVEL", "String"),
    ("SPAN_TYPE", "String"),
    ("FINISH_REASON", "String"),
    ("NATIVE_FINISH_REASON", "String"),
    ("ERROR_TYPE", "String"),
    ("ERROR_MESSAGE", "String"),
    ("STREAMED", "UInt8"),
    ("CANCELLED", "UInt8"),
    ("PROMPT_TOKENS", "UInt64"),
    ("COMPLETION_TOKENS", "UInt64"),
    ("TOTAL_TOKENS", "UInt64"),
    ("CACHED_TOKENS", "UInt64"),
    ("CACHE_WRITE_TOKENS", "UInt64"),
    ("REASONING_TOKENS", "UInt64"),
    ("INPUT_COST", "Float64"),
    ("OUTPUT_COST", "Float64"),
    ("TOTAL_COST", "Float64"),
    ("ATTRIBUTES", "String"),
    ("INPUT", "String"),
    ("OUTPUT", "String"),
    ("METADATA", "String"),
    ("MODEL_PARAMETERS", "String"),
    ("PROVIDER_ATTEMPTS", "String"),
)

#: ClickHouse error codes worth another attempt: the server is busy, short of memory or parts, or lost
#: a connection or its coordinator. Every other code is about the request (auth, table, data) and
#: repeats on a retry.
RETRYABLE_CODES: frozenset[int] = frozenset({
    159,  # TIMEOUT_EXCEEDED
    173,  # CANNOT_ALLOCATE_MEMORY
    201,  # QUOTA_EXPIRED (QUOTA_EXCEEDED): the quota interval ends
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    203,  # NO_FREE_CONNECTION
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    225,  # NO_ZOOKEEPER
    236,  # ABORTED
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY (a replica lost its coordinator)
    252,  # TOO_MANY_PARTS (inserts faster than merges)
    254,  # NO_ACTIVE_REPLICAS
    279,  # ALL_CONNECTION_TRIES_FAILED
    285,  # TOO_FEW_LIVE_REPLICAS
    319,  # UNKNOWN_STATUS_OF_INSERT
    364,  # RECEIVED_ERROR_TOO_MANY_REQUESTS
    394,  # QUERY_WAS_CANCELLED
    425,  # SYSTEM_ERROR
    439,  # CANNOT_SCHEDULE_TASK
    999,  # KEEPER_EXCEPTION
})
#: Of those, the ones that mean "overloaded": the adaptive concurrency limit backs off on them.
OVERLOAD_CODES: frozenset[int] = frozenset({159, 173, 201, 202, 203, 241, 252, 364, 439})

# ClickHouse starts its error text with the code ("Code: 60, e.displayText()..." / "Code: 60. DB::Exception...");
# a proxy's page that merely mentions a code elsewhere is not ClickHouse speaking.
_CODE_IN_BODY = re.compile(rb"\s*Code: (\d{1,5})[.,]")
_CODE_HEADER = "x-clickhouse-exception-code"
_AUTH_HEADERS = frozenset({"authorization", "x-clickhouse-user", "x-clickhouse-key", "x-clickhouse-quota"})

# The generation span's attributes for ATTRIBUTES: the gen_ai flavour's plain fields (with its trace-level
# ones), without its content (INPUT and OUTPUT hold it) and derived JSON values.
_FAST_OPS = frozenset({Op.STR, Op.STR_LOWER, Op.STR_OR, Op.STR_ARRAY, Op.INT, Op.DOUBLE, Op.BOOL, Op.EXPAND, Op.MAP})
_CONTENT_KEYS = frozenset({"output.value"})
_GEN_AI = get_plan("gen_ai")
_PLAN = get_plan(AttributePlan("clickhouse", tuple(
    step for step in _GEN_AI.steps + _GEN_AI.trace_steps
    if step.op in _FAST_OPS and step.field is not None and step.key not in _CONTENT_KEYS
)))
# The id hash (FNV-1a 64 + splitmix64, spancast.codec): the extension's when it is loaded, it is the same.
_hash64 = implementation("native").hash64_py if IMPL == "native" else ids.hash64


def check_identifier(name: str, where: str) -> str:
    """name when it is a plain identifier ([A-Za-z_][A-Za-z0-9_]*, at most 128 characters), else ConfigError."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ConfigError(where, "expected a plain name: letters, digits and _ (not starting with a digit), at most 128")
    return name


def _quoted(name: str) -> str:
    return f"`{check_identifier(name, 'identifier')}`"


#: The columns OpenRouter's ClickHouse page names (its typed columns and JSON string columns; TIMESTAMP a
#: DateTime64 with millisecond precision), for a table created from OpenRouter's own setup instructions:
#: ``schema: openrouter`` writes these only. DateTime64 needs ClickHouse 20.1 or later.
OPENROUTER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("TRACE_ID", "String"), ("SPAN_ID", "String"), ("TIMESTAMP", "DateTime64(3)"), ("USER_ID", "String"),
    ("SESSION_ID", "String"), ("MODEL", "String"), ("PROVIDER_NAME", "String"), ("API_KEY_NAME", "String"),
    ("STATUS", "String"), ("LEVEL", "String"), ("SPAN_TYPE", "String"), ("FINISH_REASON", "String"),
    ("DURATION_MS", "Float64"), ("PROMPT_TOKENS", "UInt64"), ("COMPLETION_TOKENS", "UInt64"),
    ("TOTAL_TOKENS", "UInt64"), ("TOTAL_COST", "Float64"), ("ATTRIBUTES", "String"), ("INPUT", "String"),
    ("OUTPUT", "String"), ("METADATA", "String"), ("MODEL_PARAMETERS", "String"),
)


def clickhouse_ddl(database: str = DEFAULT_DATABASE, table: str = DEFAULT_TABLE, schema: str = "spancast") -> str:
    """The CREATE TABLE statement for the destination's table: spancast's (valid on ClickHouse 18.16 and
    current releases) or, with schema "openrouter", one in the shape of OpenRouter's (20.1 or later);
    ValueError (a ConfigError) for a name that is not a plain identifier."""
    check_identifier(database, "database")
    check_identifier(table, "table")
    chosen = OPENROUTER_COLUMNS if schema == "openrouter" else COLUMNS
    width = max(len(name) for name, _ in chosen)
    columns = ",\n".join(f"    {name.ljust(width)} {kind}" for name, kind in chosen)
    order = "(TIMESTAMP, TRACE_ID, SPAN_ID)" if schema == "openrouter" else "(TIMESTAMP, GENERATION_ID)"
    return (
        f"CREATE TABLE IF NOT EXISTS {_quoted(database)}.{_quoted(table)}\n"
        f"(\n{columns}\n)\n"
        "ENGINE = ReplacingMergeTree()\n"
        "PARTITION BY toYYYYMM(TIMESTAMP)\n"
        f"ORDER BY {order}\n"
    )


def exception_code(headers: Mapping[str, str] | None, body: bytes) -> int | None:
    """The ClickHouse error code of an answer: the X-ClickHouse-Exception-Code header (current releases),
    else the ``Code: NNN`` at the start of the body (every release); None when there is neither."""
    if headers:
        value = headers.get(_CODE_HEADER)
        if value is None:
            value = next((v for k, v in headers.items() if k.lower() == _CODE_HEADER), None)
        if value is not None and value.strip().isdigit():
            return int(value.strip())
    match = _CODE_IN_BODY.match(bytes(body[:64]))
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------- rows


def _json(value: Any, field: str) -> str:
    """A free-form value as JSON text; orjson for speed, the codec's canonical writer for what orjson refuses
    (integers beyond 64 bits) and for the error that names the field."""
    try:
        return orjson.dumps(value).decode()
    except (TypeError, ValueError):
        return values.json_text(value, field)


def _str(value: Any, field: str) -> str:
    """A String column's value: "" for None; EncodeError for anything but a str."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise EncodeError(field, f"expected str, got {type(value).__name__}")


def _count(value: Any, field: str) -> int:
    """A UInt64 column's value: 0 for None; EncodeError outside [0, 2**64)."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
        return value
    raise EncodeError(field, "expected an int in [0, 2**64)")


def _float(value: Any, field: str) -> float:
    """A Float64 column's value: 0.0 for None and for NaN / infinities (the column's zero, not null)."""
    if value is None:
        return 0.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else 0.0
    raise EncodeError(field, f"expected a number, got {type(value).__name__}")


_MAP = int(Op.MAP)
_STR, _STR_LOWER, _STR_OR, _STR_ARRAY, _INT, _DOUBLE, _BOOL, _EXPAND = (
    int(Op.STR), int(Op.STR_LOWER), int(Op.STR_OR), int(Op.STR_ARRAY), int(Op.INT), int(Op.DOUBLE), int(Op.BOOL),
    int(Op.EXPAND))
_STEPS = tuple((int(op), key, field, arg) for op, key, field, arg in _PLAN.steps)
_INT64 = (-(2**63), 2**63 - 1)


def _free(value: Any, field: str) -> Any:
    """A free-form value (model parameter, custom metadata) as the codec types it (plan.py's table), plain."""
    if value is None or value is True or value is False or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return int(value) if _INT64[0] <= value <= _INT64[1] else int.__repr__(value)
    return values.plain_value(values.typed_value(value, field))  # list / dict: canonical JSON text; else EncodeError


def _attributes(rec: Any) -> dict[str, Any]:
    """The generation span's attributes under _PLAN as plain values: what the codec's evaluate() gives
    (tests/test_clickhouse.py holds them equal), without its byte-level detour."""
    out: dict[str, Any] = {}
    text = values.check_text
    for op, key, field, arg in _STEPS:
        value = getattr(rec, field)
        if value is None:
            if op != _STR_OR:
                continue
            field, value = arg, getattr(rec, arg)
            if value is None:
                continue
        if op == _STR or op == _STR_OR:
            out[key] = value if type(value) is str else text(value, field)
        elif op == _INT:
            out[key] = value if type(value) is int and _INT64[0] <= value <= _INT64[1] else values.check_int64(value, field)
        elif op == _DOUBLE:
            number = values.check_double(value, field)
            out[key] = number if arg == 1.0 else number * arg
        elif op == _STR_LOWER:
            out[key] = text(value, field).lower()
        elif op == _STR_ARRAY:
            out[key] = [text(value, field)]
        elif op == _BOOL:
            out[key] = bool(value)
        elif op == _MAP:
            value = text(value, field)
            mapped = arg[0].get(value)
            out[key] = mapped if mapped is not None else value.lower() if arg[1] else value
        else:  # _EXPAND (the plan above takes no other op)
            for k, v in values.check_mapping(value, field).items():
                if not isinstance(k, str):
                    raise EncodeError(field, f"key {k!r} is not a string")
                if k not in arg:
                    out[key + k] = _free(v, f"{field}.{k}")
    return out


def _metadata(rec: Any, trace: Any) -> str:
    """The trace's keys, and the generation metadata groups the destination asked for (routing cleared the
    others) under OpenRouter's names (openrouter_generation.*, openrouter.*), as JSON text."""
    extra = shapes.openrouter_generation(rec)
    if rec.web_search_requests is not None:
        extra.setdefault("openrouter_generation", {})["web_search_requests"] = rec.web_search_requests
    doc = {**trace, **extra} if trace else extra
    return _json(doc, "trace") if doc else ""


def _hex_id(source: bytes, seed: int) -> str:
    return _hash64(source, seed).to_bytes(8, "big").hex()


def row(rec: Any, salt: int = 0) -> dict[str, Any]:
    """The table row of one record, keyed by column name in COLUMNS order. Ids and attributes are the
    ones the OTLP encoders give the generation span (salt: the destination's id salt, spancast.codec.ids);
    a value of the wrong type raises EncodeError naming the field (records built in Python are not
    type-checked by their constructor)."""
    if not isinstance(rec, Generation):
        raise EncodeError("<record>", f"expected spancast.Generation, got {type(rec).__name__}")
    trace = rec.trace
    if trace is not None:
        values.check_mapping(trace, "trace")
    gen_id = values.check_text(rec.id, "id")  # required: None is an error here
    start = values.check_time_ns(rec.start_time_ns, "start_time_ns")
    end = values.check_time_ns(rec.end_time_ns, "end_time_ns")
    seconds = start // 1_000_000_000
    if seconds > 0xFFFFFFFF:
        raise EncodeError("start_time_ns", "after 2106-02-07, beyond ClickHouse's DateTime")
    attributes = _attributes(rec)
    source = utf8(gen_id)
    trace_text = values.id_text(trace, "trace_id")
    if trace_text is None:
        trace_id = _hex_id(source, ids.SEED_TRACE_HI ^ salt) + _hex_id(source, ids.SEED_TRACE_LO ^ salt)
    else:
        trace_id = trace_text
        if values.given_id(trace_text, 32) is None:
            attributes[values.ORIGINAL_TRACE_ID] = trace_text
    parent_text = values.id_text(trace, "parent_span_id")
    if parent_text is not None and values.given_id(parent_text, 16) is None:
        attributes[values.ORIGINAL_PARENT_ID] = parent_text
    given = {"messages": rec.messages, "prompt": rec.prompt}
    inputs = {k: v for k, v in given.items() if v is not None}
    given = {"completion": rec.completion, "reasoning": rec.reasoning, "tool_calls": rec.tool_calls}
    outputs = {k: v for k, v in given.items() if v is not None}
    error = rec.status == "error"
    return {
        "GENERATION_ID": gen_id,
        "TRACE_ID": trace_id,
        "SPAN_ID": _hex_id(source, ids.SEED_SPAN_GEN ^ salt),
        "PARENT_SPAN_ID": parent_text or "",
        "TIMESTAMP": seconds,
        "START_TIME_NS": start,
        "END_TIME_NS": end,
        "DURATION_MS": (end - start) / 1e6,
        "TIME_TO_FIRST_TOKEN_MS": _float(rec.time_to_first_token_ms, "time_to_first_token_ms"),
        "USER_ID": _str(rec.user, "user"),
        "SESSION_ID": _str(rec.session_id, "session_id"),
        "MODEL": values.check_text(rec.model, "model"),
        "RESPONSE_MODEL": _str(rec.response_model or rec.model, "response_model"),
        "PROVIDER_NAME": _str(rec.provider, "provider"),
        "OPERATION": _str(rec.operation, "operation"),
        "API_KEY_NAME": _str(rec.api_key_name, "api_key_name"),
        "STATUS": "error" if error else "ok",
        "LEVEL": "ERROR" if error else "DEFAULT",
        "SPAN_TYPE": "GENERATION",
        "FINISH_REASON": _str(rec.finish_reason, "finish_reason"),
        "NATIVE_FINISH_REASON": _str(rec.native_finish_reason, "native_finish_reason"),
        "ERROR_TYPE": _str(rec.error_type, "error_type"),
        "ERROR_MESSAGE": _str(rec.error_message, "error_message"),
        "STREAMED": 1 if rec.streamed else 0,
        "CANCELLED": 1 if rec.cancelled else 0,
        "PROMPT_TOKENS": _count(rec.prompt_tokens, "prompt_tokens"),
        "COMPLETION_TOKENS": _count(rec.completion_tokens, "completion_tokens"),
        "TOTAL_TOKENS": _count(rec.total_tokens, "total_tokens"),
        "CACHED_TOKENS": _count(rec.cached_tokens, "cached_tokens"),
        "CACHE_WRITE_TOKENS": _count(rec.cache_write_tokens, "cache_write_tokens"),
        "REASONING_TOKENS": _count(rec.reasoning_tokens, "reasoning_tokens"),
        "INPUT_COST": _float(rec.input_cost, "input_cost"),
        "OUTPUT_COST": _float(rec.output_cost, "output_cost"),
        "TOTAL_COST": _float(rec.total_cost, "total_cost"),
        "ATTRIBUTES": _json(attributes, "attributes"),
        "INPUT": _json(inputs, "messages") if inputs else "",
        "OUTPUT": _json(outputs, "completion") if outputs else "",
        "METADATA": _metadata(rec, trace),
        "MODEL_PARAMETERS": _json(rec.model_parameters, "model_parameters") if rec.model_parameters else "",
        "PROVIDER_ATTEMPTS": _json(msgspec.to_builtins(rec.provider_attempts), "provider_attempts")
        if rec.provider_attempts else "",
    }


def render(rec: Any, salt: int = 0) -> bytes:
    """One JSONEachRow line (without its newline)."""
    try:
        return orjson.dumps(row(rec, salt))
    except TypeError as exc:  # a string orjson cannot write (a lone surrogate from a record built in Python)
        raise EncodeError("<record>", f"not writable as JSON: {exc}") from None


_OPENROUTER_NAMES = tuple(name for name, _ in OPENROUTER_COLUMNS)


def openrouter_row(rec: Any, salt: int = 0) -> dict[str, Any]:
    """The row for a table in OpenRouter's shape: its columns of row() (ids salted alike), TIMESTAMP as
    UTC text with milliseconds (what a DateTime64(3) column reads in JSONEachRow)."""
    full = row(rec, salt)
    out = {name: full[name] for name in _OPENROUTER_NAMES}
    ms = full["START_TIME_NS"] // 1_000_000
    out["TIMESTAMP"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}"
    return out


def render_openrouter(rec: Any, salt: int = 0) -> bytes:
    try:
        return orjson.dumps(openrouter_row(rec, salt))
    except TypeError as exc:
        raise EncodeError("<record>", f"not writable as JSON: {exc}") from None


# ---------------------------------------------------------------- the destination


class ClickHouseSettings(CommonSettings, kw_only=True, forbid_unknown_fields=True):
    host: Annotated[str, msgspec.Meta(
        description="HTTP(S) interface URL, e.g. https://clickhouse.example.com:8443 (8123 for plain HTTP)",
    )]
    database: Annotated[str, msgspec.Meta(
        description="database holding the table (letters, digits, _)",
    )] = DEFAULT_DATABASE
    table: Annotated[str, msgspec.Meta(
        description="the table rows go into: python -m spancast.destinations.clickhouse DB TABLE prints its DDL",
    )] = DEFAULT_TABLE
    username: Annotated[str, msgspec.Meta(description="ClickHouse user with INSERT on the table")] = "default"
    password: Annotated[Secret | None, msgspec.Meta(description="that user's password (none: empty)")] = None
    auth_style: Annotated[Literal["basic", "headers"], msgspec.Meta(
        description="basic: Authorization Basic; headers: X-ClickHouse-User/-Key (for proxies that strip it)",
    )] = "basic"
    schema: Annotated[Literal["spancast", "openrouter"], msgspec.Meta(
        description="the table's shape: spancast (clickhouse_ddl(), 18.16+) or openrouter (a table made from"
                    " OpenRouter's setup instructions: its columns only, TIMESTAMP in milliseconds)",
    )] = "spancast"


class ClickHouseDestination(Destination):
    """Rows into one ClickHouse table through the HTTP interface, a batch per INSERT."""

    type = "clickhouse"
    settings_class = ClickHouseSettings
    retryable = OTLP_RETRYABLE | {408}
    secret_headers = frozenset({"authorization", "x-clickhouse-key"})

    def validate(self, where: str) -> None:
        s = self.settings
        parts = urlsplit(s.host)
        if "@" in parts.netloc or "@" in s.host.partition("/")[0]:  # never echoed: it may hold a password
            raise ConfigError(f"{where}.host", "must not hold credentials: set username and password instead")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{where}.host", f"expected an http(s) URL such as https://clickhouse.example.com:8443,"
                                               f" got {s.host!r}")
        if parts.query or parts.fragment:
            raise ConfigError(f"{where}.host", "must not carry a query string or fragment (spancast writes the query)")
        check_identifier(s.database, f"{where}.database")
        check_identifier(s.table, f"{where}.table")
        check_header_value(s.username, f"{where}.username")
        if s.auth_style == "basic" and ":" in s.username:
            raise ConfigError(f"{where}.username", "must not contain ':' with Basic auth (authStyle: headers allows it)")
        if s.password is not None and s.password:
            check_header_value(s.password, f"{where}.password")
        for name in s.headers:
            if name.lower() in _AUTH_HEADERS:
                raise ConfigError(f"{where}.headers.{name}", "set username and password instead (ClickHouse refuses"
                                                             " a request that authenticates twice)")
        self.target = f"{_quoted(s.database)}.{_quoted(s.table)}"
        base = s.host.rstrip("/") + "/"
        self.url = base + "?query=" + quote(f"INSERT INTO {self.target} FORMAT JSONEachRow", safe="")
        names = ", ".join(name for name, _ in (OPENROUTER_COLUMNS if s.schema == "openrouter" else COLUMNS))
        self.probe_url = base + "?query=" + quote(f"INSERT INTO {self.target} ({names}) FORMAT JSONEachRow", safe="")
        password = s.password or ""
        if s.auth_style == "basic":
            auth = {"Authorization": basic_auth(s.username, password)}
        else:
            auth = {"X-ClickHouse-User": s.username, "X-ClickHouse-Key": password}
        self._headers = merge_headers(s.headers, {**auth, "Content-Type": CONTENT_TYPE})

    def new_encoder(self, format: str | None = None) -> EventEncoder:
        """A JSONEachRow batch: one row per line (format is ignored: rows have one rendering)."""
        chosen = render_openrouter if self.settings.schema == "openrouter" else render
        return EventEncoder(functools.partial(chosen, salt=self.id_salt), prefix=b"", separator=b"\n", suffix=b"\n")

    def request(self, body: bytes) -> Request:
        return Request("POST", self.url, self._headers, body)

    def test_payload(self) -> tuple[Payload, frozenset[int]]:
        """The permission probe: an INSERT of zero rows naming every column (see the module docstring)."""
        return Payload(b"", url=self.probe_url), frozenset()

    def hint(self, status: int | None, excerpt: str) -> str | None:
        """The usual cause of a failed connection test, from the ClickHouse error code."""
        code = exception_code(None, excerpt.encode())
        if code in (60, 81):
            return ("the database or table does not exist: create it with the DDL that"
                    " spancast.destinations.clickhouse.clickhouse_ddl(database, table) prints")
        if code in (192, 193, 516):
            return "credentials refused: check username and password (and authStyle)"
        if code in (164, 497):  # readonly (18.16), not enough privileges (current releases)
            return "this user may not insert: it needs INSERT on the table"
        if code == 16:
            return "the table lacks columns spancast writes: compare it with clickhouse_ddl()"
        return None

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Decision:
        if 200 <= status < 300:
            return decide(status, headers, retryable=self.retryable)
        code = exception_code(headers, body)
        if code is None:  # not ClickHouse speaking (a proxy, a load balancer): judged by the status
            return decide(status, headers, retryable=self.retryable)
        if code in RETRYABLE_CODES:
            after = parse_retry_after(headers.get("Retry-After") if headers else None)
            overload = code in OVERLOAD_CODES or status in OVERLOAD
            return Decision(Action.RETRY, status, after, overload, f"ClickHouse Code {code}")
        return Decision(Action.PERMANENT, status, reason=f"ClickHouse Code {code}")

    def __repr__(self) -> str:
        s = self.settings
        return f"<ClickHouseDestination name={self.name!r} table={s.database}.{s.table} auth={s.auth_style}>"


if __name__ == "__main__":  # python -m spancast.destinations.clickhouse [database [table]]: print the DDL
    import sys

    print(clickhouse_ddl(*sys.argv[1:4]), end="")
