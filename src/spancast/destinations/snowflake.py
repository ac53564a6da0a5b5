"""Snowflake (``snowflake``): one row per generation, a batch per INSERT statement through the SQL API.

Settings, as OpenRouter names them (https://openrouter.ai/docs/guides/features/broadcast/snowflake):
``account`` (required: the account identifier, e.g. ``eac52885.us-east-1`` or ``myorg-myaccount``,
without ``.snowflakecomputing.com``), ``token`` (required: a programmatic access token, shown as
``'***'``), ``database`` (default ``SNOWFLAKE_LEARNING_DB``), ``schema`` (default ``PUBLIC``),
``warehouse`` (default ``COMPUTE_WH``), ``table`` (default ``OPENROUTER_TRACES``), ``headers``. Plus
spancast's ``role`` (optional; else the user's default role), ``baseUrl`` (default
``https://<account>.snowflakecomputing.com``; for proxies and tests, a path prefix is kept) and
``statementTimeoutS`` (default 60; 0 is Snowflake's maximum, 7 days). Names must match
``[A-Za-z_][A-Za-z0-9_$]*`` (at most 255): they are checked when the destination is built and written
double-quoted, so they are case-sensitive as the SQL API's own database/schema/warehouse/role fields
are (Snowflake stores unquoted names in upper case: write them so).

Wire (Snowflake SQL API, https://docs.snowflake.com/en/developer-guide/sql-api/reference and
.../submitting-requests; PATs: https://docs.snowflake.com/en/user-guide/programmatic-access-tokens):

- ``POST <base>/api/v2/statements?requestId=<uuid>&retry=true`` with ``Authorization: Bearer <token>``,
  ``X-Snowflake-Authorization-Token-Type: PROGRAMMATIC_ACCESS_TOKEN``, ``Content-Type`` and ``Accept:
  application/json`` and ``User-Agent: spancast``. requestId is a UUID derived from the body, so a
  retried batch (after a timeout, a reset, a 5xx) carries the same one, and ``retry=true`` asks
  Snowflake not to execute a statement again that already succeeded ("Resubmitting a request"). It is
  sent on every attempt, as the sender cannot tell a first one from a retry (a requestId Snowflake has
  not seen is simply executed: unverified against a real account, like everything here).
- The body, one statement for a whole batch (values never enter the SQL text; every one is bound)::

      {"statement": "INSERT INTO \\"DB\\".\\"SCHEMA\\".\\"TABLE\\" (GENERATION_ID, ..., PROVIDER_ATTEMPTS)
                     SELECT column1, ..., TO_TIMESTAMP_NTZ(column5::NUMBER(38,0), 9), ...,
                            PARSE_JSON(NULLIF(column35, '')), ... FROM (VALUES (?, ?, ...), (?, ?, ...))",
       "bindings": {"1": {"type": "TEXT", "value": "gen-..."}, "2": ..., ...},
       "timeout": 60, "database": "DB", "schema": "SCHEMA", "warehouse": "WH", "role": "ROLE"}

  Bindings are numbered row by row (row r, column c: r * 40 + c + 1), all TEXT; the SELECT list casts
  them (a VALUES list holds constants only, so PARSE_JSON cannot go there). At most 16,384 rows (the
  VALUES limit) and 1 MB of body per statement (Snowflake's limit on query text, bound values
  included: "Limits on Query Text Size"); :class:`StatementEncoder` knows its exact size.
- Answers: 200 = executed (the body's ``stats.numRowsInserted``); a 200 whose ``sqlState`` is not
  success is refused as permanent. 202 = still running (QueryStatus with ``statementHandle``): the
  classification is PENDING with ``poll_url = <base>/api/v2/statements/<handle>``; the sender waits,
  without a concurrency slot, and asks with :meth:`SnowflakeDestination.poll_request` (a GET with the
  same headers) until the answer is 200 (delivered), 202 (again), or an error judged as below. A 202
  without a handle is retried (the requestId makes that safe). 408 = the statement timed out and was
  cancelled, retried; 422 = the SQL failed (QueryFailureStatus ``code``/``sqlState``/``message``):
  permanent; 429, 500, 502, 503, 504 retried (Retry-After honoured); 413 splits; 400, 401, 403, 404,
  405, 415 permanent (a wrong account answers 403, 404 or 513).

Test Connection (:meth:`SnowflakeDestination.test_payload`), the permission probe OpenRouter's BigQuery
test describes, adapted: the batch statement with one row of NULLs and ``WHERE FALSE``. It writes
nothing and passes only when the token is accepted, the warehouse is usable, the table exists with
every column spancast writes, and the role may INSERT into it (422 otherwise; :meth:`hint` says which).

The table (:data:`COLUMNS`): spancast.destinations.clickhouse's row, column for column (names as in
OpenRouter's docs, §3.16 of the spec), with Snowflake types: String -> VARCHAR, UInt64 ->
NUMBER(38,0), UInt8 -> BOOLEAN, Float64 -> FLOAT, TIMESTAMP -> TIMESTAMP_NTZ(9) (UTC, from
start_time_ns), and VARIANT for ATTRIBUTES, INPUT, OUTPUT, METADATA, MODEL_PARAMETERS and
PROVIDER_ATTEMPTS (NULL when the record has nothing for them). Absent scalars are the type's zero, as
in ClickHouse. INPUT and OUTPUT are the only columns with content: under privacy mode both are NULL.
:func:`snowflake_ddl` prints the CREATE TABLE; the role needs USAGE on the warehouse, database and
schema and INSERT on the table. OpenRouter's own DDL is shown only in its dashboard: a table made from
it lacks spancast's extra columns (the probe fails with 422, invalid identifier, and says to set
``columns``). Delivery is at least once: deduplicate on GENERATION_ID when exact counts matter.

``columns: openrouter`` is for a table made from OpenRouter's setup instructions instead (the setting is
not called ``schema``, as clickhouse's and bigquery's are, because ``schema`` is OpenRouter's name for the
Snowflake schema). :data:`OPENROUTER_COLUMNS` are clickhouse's ``schema: openrouter`` columns with
Snowflake's types, the five JSON ones VARIANT as OpenRouter's Snowflake page says (spec §3.16): the
statement and the probe name those columns only, so a table holding them (and any others, left NULL)
takes the rows. The shape is read from OpenRouter's pages, not from its DDL: its Snowflake page's
queries name every column but SPAN_ID, which comes from "same column names as ClickHouse" and BigQuery's
page; a table without it fails the probe (000904). ``snowflake_ddl(..., columns="openrouter")`` prints a
table of that shape.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import quote, urlsplit

import msgspec
import orjson

from ..errors import ConfigError
from ..pipeline.retry import Action, Decision, decide, parse_retry_after
from . import clickhouse as _ch
from ._secret import check_header_value, merge_headers
from .base import CommonSettings, Destination, Payload, Request, Secret
from .events import EventEncoder

__all__ = ["COLUMNS", "OPENROUTER_COLUMNS", "SnowflakeDestination", "SnowflakeSettings", "StatementEncoder",
           "row_values", "snowflake_ddl"]

DEFAULT_DATABASE = "SNOWFLAKE_LEARNING_DB"
DEFAULT_SCHEMA = "PUBLIC"
DEFAULT_WAREHOUSE = "COMPUTE_WH"
DEFAULT_TABLE = "OPENROUTER_TRACES"
TOKEN_TYPE = "PROGRAMMATIC_ACCESS_TOKEN"
MAX_ROWS = 16_384  # a VALUES list's limit
MAX_STATEMENT_BYTES = 1_000_000  # "Limits on Query Text Size": 1 MB, bound values included
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,254}")
_ACCOUNT = re.compile(r"[a-zA-Z0-9_]+(?:[.-][a-zA-Z0-9_]+)*")  # OpenRouter's pattern for account
_HANDLE = re.compile(r"[0-9A-Za-z-]{1,128}")
_AUTH_HEADERS = frozenset({"authorization", "x-snowflake-authorization-token-type"})

_TYPES = {"String": "VARCHAR", "UInt64": "NUMBER(38,0)", "UInt8": "BOOLEAN", "Float64": "FLOAT",
          "DateTime": "TIMESTAMP_NTZ(9)", "DateTime64(3)": "TIMESTAMP_NTZ(9)"}
_VARIANT = frozenset({"ATTRIBUTES", "INPUT", "OUTPUT", "METADATA", "MODEL_PARAMETERS", "PROVIDER_ATTEMPTS"})
#: (name, Snowflake type) of every column, in the order rows carry them and the DDL declares them.
COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (name, "VARIANT" if name in _VARIANT else _TYPES[kind]) for name, kind in _ch.COLUMNS)
#: The columns of a table made from OpenRouter's instructions (``columns: openrouter``): clickhouse's
#: OPENROUTER_COLUMNS, with Snowflake's types and its five JSON columns VARIANT, as OpenRouter's page says.
OPENROUTER_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (name, "VARIANT" if name in _VARIANT else _TYPES[kind]) for name, kind in _ch.OPENROUTER_COLUMNS)
_CAST = {"VARCHAR": "{}", "NUMBER(38,0)": "{}::NUMBER(38,0)", "BOOLEAN": "{}::BOOLEAN", "FLOAT": "{}::FLOAT",
         "TIMESTAMP_NTZ(9)": "TO_TIMESTAMP_NTZ({}::NUMBER(38,0), 9)", "VARIANT": "PARSE_JSON(NULLIF({}, ''))"}
_BINDING = b'"%d":{"type":"TEXT","value":%s}'


class _Shape(NamedTuple):
    """What a table's columns make of the statement: its column list, SELECT list and one row's placeholders."""

    columns: tuple[tuple[str, str], ...]
    names: str
    select: str
    group: bytes

    @classmethod
    def of(cls, columns: tuple[tuple[str, str], ...]) -> _Shape:
        return cls(columns, ", ".join(name for name, _ in columns),
                   ", ".join(_CAST[kind].format(f"column{i}") for i, (_, kind) in enumerate(columns, 1)),
                   ("(" + ", ".join("?" * len(columns)) + ")").encode())


_SHAPES = {"spancast": _Shape.of(COLUMNS), "openrouter": _Shape.of(OPENROUTER_COLUMNS)}


def check_identifier(name: Any, where: str) -> str:
    """name when it is a plain Snowflake identifier ([A-Za-z_][A-Za-z0-9_$]*, at most 255), else ConfigError."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ConfigError(where, "expected a plain name: letters, digits, _ and $ (not starting with a digit),"
                                 " at most 255")
    return name


def _target(database: str, schema: str, table: str) -> str:
    return ".".join(f'"{check_identifier(n, w)}"' for n, w in ((database, "database"), (schema, "schema"),
                                                              (table, "table")))


def snowflake_ddl(database: str = DEFAULT_DATABASE, schema: str = DEFAULT_SCHEMA, table: str = DEFAULT_TABLE,
                  columns: str = "spancast") -> str:
    """The CREATE TABLE statement for the destination's table (columns "spancast", or "openrouter": a table in
    the shape of OpenRouter's); ConfigError for a name that is not plain."""
    target = _target(database, schema, table)
    if columns not in _SHAPES:
        raise ConfigError("columns", f"expected spancast or openrouter, got {columns!r}")
    chosen = _SHAPES[columns].columns
    width = max(len(name) for name, _ in chosen)
    lines = ",\n".join(f"    {name.ljust(width)} {kind}" for name, kind in chosen)
    return f"CREATE TABLE IF NOT EXISTS {target} (\n{lines}\n);\n"


def row_values(rec: Any, salt: int = 0, columns: str = "spancast") -> list[bytes]:
    """One record's column values, in the order of the shape's columns, each a JSON string literal (every
    binding is TEXT): clickhouse's row (EncodeError naming a field of the wrong type), TIMESTAMP in nanoseconds."""
    row = _ch.row(rec, salt)
    row["TIMESTAMP"] = row["START_TIME_NS"]
    if columns != "spancast":
        row = {name: row[name] for name, _ in _SHAPES[columns].columns}
    out = []
    for value in row.values():
        if type(value) is int:
            out.append(b'"%d"' % value)
        elif type(value) is float:
            out.append(b'"%s"' % repr(value).encode())
        else:
            out.append(orjson.dumps(value))  # a str (TypeError for a lone surrogate: that record's EncodeError)
    return out


def _text(value: str) -> bytes:
    """value as the inside of a JSON string."""
    return orjson.dumps(value)[1:-1]


class StatementEncoder(EventEncoder):
    """A batch as one SQL API request body: the statement grows by a placeholder group per row and the
    bindings by a row of values, so the body is joined at finish(); ``size`` is its exact length."""

    def __init__(self, head: bytes, middle: bytes, tail: bytes, salt: int = 0, columns: str = "spancast") -> None:
        # prefix: up to the first group; suffix: from after the last group to the end (EventEncoder.size)
        super().__init__(functools.partial(row_values, salt=salt, columns=columns), prefix=head, separator=b",",
                         suffix=middle + tail)
        self.middle, self.tail = middle, tail
        shape = _SHAPES[columns]
        self.ncolumns, self.group = len(shape.columns), shape.group

    def append(self, record: Any, max_bytes: int = -1) -> int:
        cells = self._render(record)
        first = self.records * self.ncolumns + 1
        chunk = b",".join([_BINDING % (first + i, v) for i, v in enumerate(cells)])
        added = len(self.group) + len(chunk) + (3 if self.records else 0)  # ", " between groups, "," between rows
        if max_bytes >= 0 and self.records and self.size + added > max_bytes:
            return 0
        self._chunks.append(chunk)
        self._body += added
        self.records += 1
        return added if self.records > 1 else added + len(self.prefix) + len(self.suffix)

    def finish(self) -> bytes:
        data = b"".join((self.prefix, b", ".join([self.group] * self.records), self.middle, b",".join(self._chunks),
                         self.tail))
        self.reset()
        return data

    finish_view = finish

    def __repr__(self) -> str:
        return f"<StatementEncoder rows={self.records} bytes={self.size}>"


# ---------------------------------------------------------------- the destination


class SnowflakeSettings(CommonSettings, kw_only=True, forbid_unknown_fields=True):
    account: Annotated[str, msgspec.Meta(
        description="account identifier, e.g. xy12345.us-east-1 or myorg-myaccount (no .snowflakecomputing.com)",
    )]
    token: Annotated[Secret, msgspec.Meta(
        description="programmatic access token (PAT) of a user whose role may insert into the table",
    )]
    database: Annotated[str, msgspec.Meta(
        description="database holding the table (case-sensitive: unquoted names are stored upper case)",
    )] = DEFAULT_DATABASE
    schema: Annotated[str, msgspec.Meta(description="schema holding the table (case-sensitive)")] = DEFAULT_SCHEMA
    warehouse: Annotated[str, msgspec.Meta(
        description="warehouse that runs the INSERTs (case-sensitive)",
    )] = DEFAULT_WAREHOUSE
    table: Annotated[str, msgspec.Meta(
        description="the table rows go into; it needs every column snowflake_ddl() creates for that columns"
                    " setting (case-sensitive)",
    )] = DEFAULT_TABLE
    columns: Annotated[Literal["spancast", "openrouter"], msgspec.Meta(
        description="the table's columns: spancast (snowflake_ddl()) or openrouter (a table made from OpenRouter's"
                    " setup instructions: its columns only); schema is Snowflake's schema name",
    )] = "spancast"
    role: Annotated[str | None, msgspec.Meta(
        description="role the statements run as (none: the user's default role)",
    )] = None
    base_url: Annotated[str | None, msgspec.Meta(
        description="SQL API base URL for proxies and tests (none: https://{account}.snowflakecomputing.com)",
    )] = None
    statement_timeout_s: Annotated[int, msgspec.Meta(
        description="seconds Snowflake may spend on one INSERT (0: its maximum, 7 days)",
    )] = 60
    # Snowflake holds a request up to 45 s before it answers 202; a shorter client timeout would resend
    # statements that are still running (the requestId keeps that from inserting twice, but it is waste).
    timeout_s: Annotated[float, msgspec.Meta(
        description="seconds one request may take; Snowflake holds one up to 45 s before it answers 202",
    )] = 60.0


class SnowflakeDestination(Destination):
    """Rows into one Snowflake table through the SQL API, a batch per INSERT; 202s followed to the end."""

    type = "snowflake"
    settings_class = SnowflakeSettings
    retryable = frozenset({408, 429, 500, 502, 503, 504})
    secret_headers = frozenset({"authorization"})
    max_batch_bytes = MAX_STATEMENT_BYTES
    max_batch_records = MAX_ROWS

    def validate(self, where: str) -> None:
        s = self.settings
        if not _ACCOUNT.fullmatch(s.account) or len(s.account) > 255:
            raise ConfigError(f"{where}.account", f"expected an account identifier such as xy12345.us-east-1 or"
                                                  f" myorg-myaccount, got {s.account!r}")
        if s.account.lower().endswith(".snowflakecomputing.com"):
            raise ConfigError(f"{where}.account", "give the account identifier only, without .snowflakecomputing.com")
        check_header_value(s.token, f"{where}.token")
        for key in ("database", "schema", "warehouse", "table") + (("role",) if s.role is not None else ()):
            check_identifier(getattr(s, key), f"{where}.{key}")
        if not 0 <= s.statement_timeout_s <= 604_800:
            raise ConfigError(f"{where}.statementTimeoutS",
                              f"must be in [0, 604800] seconds, got {s.statement_timeout_s}")
        base = s.base_url if s.base_url is not None else f"https://{s.account}.snowflakecomputing.com"
        parts = urlsplit(base)
        if "@" in parts.netloc:  # never echoed: it may hold a password
            raise ConfigError(f"{where}.baseUrl", "must not hold credentials: set token instead")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{where}.baseUrl", f"expected an http(s) URL such as https://xy12345.snowflakecomputing"
                                                  f".com, got {base!r}")
        if parts.query or parts.fragment:
            raise ConfigError(f"{where}.baseUrl", "must not carry a query string or fragment (spancast writes one)")
        for name in s.headers:
            if name.lower() in _AUTH_HEADERS:
                raise ConfigError(f"{where}.headers.{name}", "set token instead (spancast sends the Bearer token and"
                                                             " its type)")
        self.statements_url = base.rstrip("/") + "/api/v2/statements"
        self.target = _target(s.database, s.schema, s.table)
        context = {"timeout": s.statement_timeout_s, "database": s.database, "schema": s.schema,
                   "warehouse": s.warehouse, **({"role": s.role} if s.role is not None else {})}
        shape = _SHAPES[s.columns]
        insert = f"INSERT INTO {self.target} ({shape.names}) SELECT {shape.select} FROM (VALUES "
        self._head = b'{"statement":"' + _text(insert)
        self._middle = b'","bindings":{'
        self._tail = b"}," + orjson.dumps(context)[1:]
        probe = insert + "(" + ", ".join(["NULL"] * len(shape.columns)) + ")) WHERE FALSE"
        self._probe = orjson.dumps({"statement": probe, **context})
        auth = {"Authorization": f"Bearer {s.token}", "X-Snowflake-Authorization-Token-Type": TOKEN_TYPE,
                "Accept": "application/json", "User-Agent": "spancast"}
        self._poll_headers = merge_headers(s.headers, auth)
        self._headers = merge_headers(s.headers, {**auth, "Content-Type": "application/json"})

    def new_encoder(self, format: str | None = None) -> StatementEncoder:
        """One INSERT statement per batch (format is ignored: rows have one rendering)."""
        return StatementEncoder(self._head, b")" + self._middle, self._tail, self.id_salt, self.settings.columns)

    def request(self, body: bytes) -> Request:
        """The POST of one statement; its requestId is derived from the body, so a retry repeats it."""
        request_id = uuid.UUID(bytes=hashlib.blake2b(body, digest_size=16).digest(), version=4)
        return Request("POST", f"{self.statements_url}?requestId={request_id}&retry=true", self._headers, body)

    def poll_request(self, url: str) -> Request:
        """The GET that asks how a pending statement (a 202's poll_url) is going."""
        return Request("GET", url, self._poll_headers, b"")

    def test_payload(self) -> tuple[Payload, frozenset[int]]:
        """The permission probe: an INSERT of nothing that names every column (see the module docstring)."""
        url = f"{self.statements_url}?requestId={uuid.uuid4()}"  # never a resubmission of an earlier probe
        return Payload(self._probe, url=url), frozenset()

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Decision:
        if status == 202:
            handle = _field(body, "statementHandle")
            if not isinstance(handle, str) or not _HANDLE.fullmatch(handle):  # nowhere to ask: send again
                return Decision(Action.RETRY, status, reason="HTTP 202 without a statement handle")
            after = parse_retry_after(_header(headers, "retry-after"))
            return Decision(Action.PENDING, status, after, reason=f"statement {handle} still running",
                            poll_url=f"{self.statements_url}/{quote(handle, safe='')}")
        if status == 200:
            state = _field(body, "sqlState")
            if isinstance(state, str) and not state.startswith(("00", "01")):  # not success, nor a warning
                return Decision(Action.PERMANENT, status, reason=f"Snowflake {_field(body, 'code')} ({state})")
            return Decision(Action.DELIVERED, status)
        if status == 422:
            return Decision(Action.PERMANENT, status, reason=f"Snowflake {_field(body, 'code')} (SQL error)")
        return decide(status, headers, retryable=self.retryable)

    def hint(self, status: int | None, excerpt: str) -> str | None:
        """The usual cause of a failed connection test, from the status and Snowflake's error code."""
        code = _CODE.search(excerpt)
        code = code.group(1) if code else ""
        text = excerpt.lower()
        if status in (401, 403):
            return ("credentials refused: the token must be a programmatic access token of a user of this account,"
                    " not expired, and that user's network policy must allow this address")
        if status in (404, 513):
            return ("wrong account or baseUrl path: requests go to https://<account>.snowflakecomputing.com"
                    "/api/v2/statements (the account identifier as in the account URL)")
        if status != 422:
            return None
        if code in ("002003", "002043") or "does not exist" in text:
            return ("the database, schema or table does not exist or the role cannot see it (names are case-sensitive):"
                    " create it with spancast.destinations.snowflake.snowflake_ddl(database, schema, table)")
        if code == "003001" or "insufficient privileges" in text:
            return "the role may not insert: it needs USAGE on the database and schema and INSERT on the table"
        if code == "000606" or "warehouse" in text:
            return "no usable warehouse: check warehouse, and that the role has USAGE on it"
        if (code == "000904" or "invalid identifier" in text) and self.settings.columns == "openrouter":
            return ("the table lacks columns of OpenRouter's table: compare it with snowflake_ddl(..., columns="
                    "'openrouter'), or set columns: spancast for a table made from snowflake_ddl()")
        if code == "000904" or "invalid identifier" in text:
            return ("the table lacks columns spancast writes: compare it with snowflake_ddl(), or set columns:"
                    " openrouter for a table made from OpenRouter's instructions")
        return None

    def __repr__(self) -> str:
        s = self.settings
        return f"<SnowflakeDestination name={self.name!r} account={s.account} table={self.target.replace(chr(34), '')}>"


_CODE = re.compile(r'"code"\s*:\s*"(\d+)"')


def _field(body: bytes, key: str) -> Any:
    """A top-level key of a JSON answer; None when the body is not a JSON object (a proxy's page, nothing)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc.get(key) if isinstance(doc, dict) else None


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    return value if value is not None else next((v for k, v in headers.items() if k.lower() == name), None)
