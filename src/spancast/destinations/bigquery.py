"""Google BigQuery (``bigquery``): one row per generation, a batch per ``tabledata.insertAll`` request.

Settings (OpenRouter's page names them by label only, https://openrouter.ai/docs/guides/features/broadcast/bigquery;
camelCase or snake_case): ``projectId`` (required; ``my-project`` or ``example.com:my-project``),
``credentials`` (required: the service-account key JSON, the key file's content as a string or a mapping;
a Secret, shown as '***' and never repeated in an error), ``dataset`` (default ``openrouter``; letters,
digits, _), ``table`` (default ``openrouter_traces``; letters, digits, _, -), ``headers`` (not
Authorization). Beyond OpenRouter: ``baseUrl`` (default ``https://bigquery.googleapis.com``; for proxies,
Private Service Connect endpoints and tests; a path prefix is kept), ``skipInvalidRows`` (default false,
below) and ``resource`` (extra attributes for the resource_attributes column, as the OTLP destinations take).

Wire: the legacy streaming API, which needs no Job User role (OpenRouter's setup grants only BigQuery Data
Editor on the dataset). https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/insertAll:

- ``POST <base>/bigquery/v2/projects/<projectId>/datasets/<dataset>/tables/<table>/insertAll``,
  ``Authorization: Bearer <jwt>``, ``Content-Type`` and ``Accept: application/json``, ``User-Agent: spancast``::

      {"kind":"bigquery#tableDataInsertAllRequest","skipInvalidRows":false,"ignoreUnknownValues":false,
       "rows":[{"insertId":"gen-...","json":{"generation_id":"gen-...","trace_id":"...",...}},...]}

- insertId is the generation id (a 32-hex hash of it beyond 128 characters): BigQuery drops, best effort and
  for about a minute, a row whose insertId it has just seen, so a batch resent after a timeout or a reset
  does not insert twice. Beyond that, delivery is at least once: deduplicate on generation_id.
- Limits (https://cloud.google.com/bigquery/quotas#streaming_inserts): 10 MB per request, 50,000 rows
  (500 recommended): batches close at 500 rows or 9 MiB, counted before compression (``compression: gzip``
  sends ``Content-Encoding: gzip``, which Google's front end decompresses).
- Answers (https://cloud.google.com/bigquery/docs/error-messages). 200 takes the request; its body may list
  ``insertErrors`` [{index, errors: [{reason, location, message}]}]. With skipInvalidRows false one invalid
  row fails the request (the others are listed as ``stopped``) and nothing goes in; with true the valid rows
  go in. The batch is then delivered with ``rejected_spans`` = the rows that did not go in (every row with
  skipInvalidRows false), counted as partial_success, the reason naming the first error that is not
  ``stopped``; when every error listed is transient (backendError, internalError, rateLimitExceeded,
  quotaExceeded) the batch is retried instead. Errors are ``{"error": {code, message, errors: [{reason}]}}``:
  400 permanent, except "Request payload size exceeds the limit", which splits the batch as 413 does; 401
  (the JWT refused: a deleted key, a skewed clock) permanent, dropping the cached JWT; 403 rateLimitExceeded
  or quotaExceeded retried, backing the concurrency limit off; other 403s (accessDenied, accessNotConfigured,
  billingNotEnabled: the sandbox takes no streaming inserts) and 404 (no such project, dataset or table)
  permanent; 408, 429, 500, 502, 503, 504 retried, Retry-After honoured.

Auth, with no network call: a self-signed JWT ("Service account authorization without OAuth",
https://developers.google.com/identity/protocols/oauth2/service-account#jwt-auth). Header ``{"alg": "RS256",
"typ": "JWT", "kid": <private_key_id>}``; claims ``iss`` = ``sub`` = the key's client_email, ``aud`` =
``https://bigquery.googleapis.com/`` (the ``https://<service host>/`` audience google-auth and api-core give
self-signed JWTs; kept when baseUrl points elsewhere), ``iat``, ``exp`` = iat + 3600 (Google's maximum).
Signed by google-auth's ``crypt.RSASigner.from_service_account_info`` and ``jwt.encode``: the pieces
``google.auth.jwt.Credentials`` mints with, without its credential machinery, which may look things up over
the network. google-auth is the optional extra ``spancast[bigquery]``, imported when a bigquery destination
is built; the key is parsed then (a bad key is a ConfigError naming credentials). ``request(body)`` mints a
JWT on first use and reuses it until 5 minutes before it expires.

Test Connection (:meth:`BigQueryDestination.test_payload`). OpenRouter's test reads the table's metadata, then
checks that the credentials can insert, so read-only ones fail up front (spec §1.7). spancast sends an
insertAll of one row that cannot go in: the test record's row plus a column no table has
(:data:`PROBE_COLUMN`), skipInvalidRows and ignoreUnknownValues false. insertAll needs
bigquery.tables.updateData, tables.get and datasets.get, so the probe passes only when the JWT is accepted
(else 401), the project, dataset and table exist (404) and the account may insert (403); BigQuery answers
200 with insertErrors naming the probe column. When they name any other column (one the table lacks, as a
table made from OpenRouter's instructions lacks spancast's extra ones) the test fails, its hint naming the
``schema`` setting that fits (:meth:`BigQueryDestination.test_refusal`). A tables.get would pass with
read-only credentials; an insertAll of zero rows is refused with a 400 ("No rows present in the request").

The table (:data:`COLUMNS`; :func:`bigquery_schema` gives the ``bq mk`` schema and the CREATE TABLE):
spancast.destinations.clickhouse's row, column for column, lower-cased (as OpenRouter's BigQuery page names
them, spec §3.17), plus resource_attributes after attributes. String -> STRING, UInt64 -> INT64 (sent as
decimal strings, as google-cloud-bigquery does), UInt8 -> BOOL, Float64 -> FLOAT64, TIMESTAMP -> TIMESTAMP
(start_time_ns to the microsecond, RFC 3339 UTC), and JSON for attributes, resource_attributes, input,
output, metadata, model_parameters, provider_attempts (sent as JSON text, which the legacy API parses into
the JSON column; null when the record has nothing). Absent scalars are the type's zero, as in ClickHouse
and Snowflake. input and output are the only columns with content: under privacy mode both are null. The
DDL partitions by DATE(timestamp) (streaming takes rows dated within BigQuery's window around the present).

``schema: openrouter`` is for a table made from OpenRouter's setup instructions instead
(:data:`OPENROUTER_COLUMNS`: the columns OpenRouter's BigQuery page names, spec §3.17: its typed columns
and its JSON ones, resource_attributes included; no generation_id, span_type or provider_attempts): rows and
the probe carry those columns only, so a table holding them (and any other NULLABLE or REPEATED ones, such
as the ``tags`` ARRAY<STRING> the page mentions, left null or empty) takes them. The insertId stays the
generation's. OpenRouter shows its DDL only in its dashboard, so this shape is read from its page, not from
the DDL itself; ``bigquery_schema(..., schema="openrouter")`` gives a table of that shape.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import urlsplit

import msgspec
import orjson

from ..codec import implementation, values
from ..errors import ConfigError, EncodeError
from ..pipeline.retry import Action, Decision, decide, parse_retry_after
from ..probe import test_record
from . import clickhouse as _ch
from ._secret import merge_headers
from .base import CommonSettings, Destination, Payload, Request, Secret
from .events import EventEncoder

__all__ = ["COLUMNS", "OPENROUTER_COLUMNS", "BigQueryDestination", "BigQuerySchema", "BigQuerySettings",
           "bigquery_schema", "openrouter_row", "row"]

DEFAULT_BASE_URL = "https://bigquery.googleapis.com"
DEFAULT_DATASET = "openrouter"
DEFAULT_TABLE = "openrouter_traces"
AUDIENCE = "https://bigquery.googleapis.com/"
TOKEN_LIFETIME_S = 3600  # the longest a self-signed JWT may live
REMINT_BEFORE_S = 300  # a new JWT this long before the current one expires
MAX_ROWS = 500  # the recommended rows per request (50,000 is the limit)
MAX_REQUEST_BYTES = 9 * 1024 * 1024  # under the 10 MB per request, with room for the JSON framing
PROBE_COLUMN = "spancast_connection_test_probe"
KIND = "bigquery#tableDataInsertAllRequest"

_TYPES = {"String": "STRING", "UInt64": "INT64", "UInt8": "BOOL", "Float64": "FLOAT64", "DateTime": "TIMESTAMP"}
_JSON = frozenset({"attributes", "resource_attributes", "input", "output", "metadata", "model_parameters",
                   "provider_attempts"})
_REQUIRED = frozenset({"generation_id", "timestamp"})


def _columns() -> tuple[tuple[str, str], ...]:
    out = []
    for name, kind in _ch.COLUMNS:
        out.append((name.lower(), "JSON" if name.lower() in _JSON else _TYPES[kind]))
        if name == "ATTRIBUTES":
            out.append(("resource_attributes", "JSON"))
    return tuple(out)


#: (name, BigQuery type) of every column, in the order rows carry them and the DDL declares them.
COLUMNS: tuple[tuple[str, str], ...] = _columns()
#: The columns OpenRouter's BigQuery page names (``schema: openrouter``), with the types row() writes them as.
OPENROUTER_COLUMNS: tuple[tuple[str, str], ...] = tuple((name, kind) for name, kind in COLUMNS if name in {
    "trace_id", "span_id", "timestamp", "user_id", "session_id", "model", "provider_name", "api_key_name", "status",
    "level", "finish_reason", "duration_ms", "prompt_tokens", "completion_tokens", "total_tokens", "total_cost",
    "attributes", "input", "output", "metadata", "model_parameters", "resource_attributes"})
_SHAPES = {"spancast": COLUMNS, "openrouter": OPENROUTER_COLUMNS}
_CONVERT = tuple((name, name.lower(), kind) for name, kind in _ch.COLUMNS)
_PY = implementation("python")  # the encoders' pure-Python twin: resource_attrs, as the OTLP encoders type them
_INT64_MAX = 2**63 - 1
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}")  # a BigQuery column name
_FIELD = re.compile(r"(?:no such|[Mm]issing required) field: ([A-Za-z_][A-Za-z0-9_]{0,299})")
_PROJECT = re.compile(r"(?:[a-z][a-z0-9.-]{0,61}[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
_DATASET = re.compile(r"[A-Za-z0-9_]{1,1024}")
_TABLE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,1023}")
_TRANSIENT = frozenset({"backendError", "internalError", "rateLimitExceeded", "quotaExceeded"})
_QUOTA = frozenset({"rateLimitExceeded", "quotaExceeded"})
_REASON = re.compile(r'"reason"\s*:\s*"([A-Za-z]{1,64})"')
_INDEX = re.compile(rb'"index"\s*:\s*(\d{1,9})')


@functools.cache
def _google_auth() -> SimpleNamespace:
    """google-auth's signer and JWT encoder (imported on first use: the optional extra ``spancast[bigquery]``)."""
    from google.auth import crypt, jwt

    return SimpleNamespace(RSASigner=crypt.RSASigner, encode=jwt.encode)


def _check(pattern: re.Pattern[str], name: Any, where: str, what: str) -> str:
    if not isinstance(name, str) or not pattern.fullmatch(name):
        raise ConfigError(where, f"expected {what}, got {name!r}")
    return name


class BigQuerySchema(NamedTuple):
    """The table: ``fields`` for ``bq mk --schema`` (or tables.insert), ``ddl`` for the query editor."""

    fields: list[dict[str, str]]
    ddl: str

    def fields_json(self) -> str:
        """fields as the JSON file ``bq mk --table --schema schema.json`` reads."""
        return json.dumps(self.fields, indent=2) + "\n"


def bigquery_schema(project: str | None = None, dataset: str = DEFAULT_DATASET,
                    table: str = DEFAULT_TABLE, schema: str = "spancast") -> BigQuerySchema:
    """The destination's table as a ``bq mk`` JSON schema and a CREATE TABLE statement (partitioned by
    DATE(timestamp)), for schema "spancast" or "openrouter"; ConfigError for a name the destination would
    refuse. With bq::

        bq mk --table --time_partitioning_field timestamp --schema schema.json project:dataset.table
    """
    names = [_check(_DATASET, dataset, "dataset", "letters, digits and _"),
             _check(_TABLE, table, "table", "letters, digits, _ and -")]
    if project is not None:
        names.insert(0, _check(_PROJECT, project, "projectId", "a project id such as my-project"))
    if schema not in _SHAPES:
        raise ConfigError("schema", f"expected spancast or openrouter, got {schema!r}")
    chosen = _SHAPES[schema]
    fields = [{"name": name, "type": kind, "mode": "REQUIRED" if name in _REQUIRED else "NULLABLE"}
              for name, kind in chosen]
    width = max(len(name) for name, _ in chosen)
    columns = ",\n".join(f"  {name.ljust(width)} {kind}{' NOT NULL' if name in _REQUIRED else ''}"
                         for name, kind in chosen)
    ddl = (f"CREATE TABLE IF NOT EXISTS `{'.'.join(names)}` (\n{columns}\n)\nPARTITION BY DATE(timestamp)\n"
           "OPTIONS (description = 'LLM generations delivered by spancast, one row per generation');\n")
    return BigQuerySchema(fields, ddl)


# ---------------------------------------------------------------- rows


def _timestamp(ns: int) -> str:
    """Unix nanoseconds as RFC 3339 UTC with microseconds (what google-cloud-bigquery sends for TIMESTAMP)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"


def row(rec: Any, resource_attributes: str | None = None, salt: int = 0) -> dict[str, Any]:
    """One record's row, keyed by column in COLUMNS order: clickhouse's row (an EncodeError names a field of
    the wrong type) with BigQuery's types; resource_attributes is the JSON text for that column."""
    source = _ch.row(rec, salt)
    out: dict[str, Any] = {}
    for name, low, kind in _CONVERT:
        value = source[name]
        if kind == "UInt64":
            if value > _INT64_MAX:
                raise EncodeError(low, "beyond BigQuery's INT64 (2**63 - 1)")
            value = str(value)
        elif kind == "UInt8":
            value = bool(value)
        elif kind == "DateTime":
            value = _timestamp(source["START_TIME_NS"])
        elif low in _JSON:
            value = value or None
        out[low] = value
        if low == "attributes":
            out["resource_attributes"] = resource_attributes
    return out


def insert_id(generation_id: str) -> str:
    """A row's insertId: the generation id, or a 32-hex hash of it when it is longer than 128 characters."""
    if len(generation_id) <= 128:
        return generation_id
    return "h-" + hashlib.blake2b(generation_id.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def openrouter_row(rec: Any, resource_attributes: str | None = None, salt: int = 0) -> dict[str, Any]:
    """row() with only the columns of a table in OpenRouter's shape (OPENROUTER_COLUMNS)."""
    full = row(rec, resource_attributes, salt)
    return {name: full[name] for name, _ in OPENROUTER_COLUMNS}


def _render(resource_attributes: str | None, salt: int = 0, schema: str = "spancast") -> Callable[[Any], bytes]:
    names = [name for name, _ in _SHAPES[schema]]

    def render(rec: Any) -> bytes:
        values = row(rec, resource_attributes, salt)
        # the insertId is the generation's in either shape (OpenRouter's table has no column for it)
        shaped = values if schema == "spancast" else {name: values[name] for name in names}
        return orjson.dumps({"insertId": insert_id(values["generation_id"]), "json": shaped})

    return render


# ---------------------------------------------------------------- the destination


class BigQuerySettings(CommonSettings, kw_only=True, forbid_unknown_fields=True):
    project_id: Annotated[str, msgspec.Meta(
        description="Google Cloud project holding the dataset (my-project or example.com:my-project)",
    )]
    # a Secret once built (see __post_init__)
    credentials: Annotated[str | dict[str, Any], msgspec.Meta(
        description="service-account key JSON (the key file's content, as text or a table); a secret",
    )]
    dataset: Annotated[str, msgspec.Meta(
        description="BigQuery dataset holding the table (letters, digits, _)",
    )] = DEFAULT_DATASET
    table: Annotated[str, msgspec.Meta(
        description="the table rows are streamed into (letters, digits, _, -); bigquery_schema() gives its DDL",
    )] = DEFAULT_TABLE
    base_url: Annotated[str, msgspec.Meta(
        description="BigQuery API base URL, for proxies, Private Service Connect and tests",
    )] = DEFAULT_BASE_URL
    skip_invalid_rows: Annotated[bool, msgspec.Meta(
        description="insert a batch's valid rows when some are invalid (false: none of the batch goes in)",
    )] = False
    resource: Annotated[dict[str, Any], msgspec.Meta(
        description="extra attributes for the resource_attributes column (service.name defaults to spancast)",
    )] = {}
    schema: Annotated[Literal["spancast", "openrouter"], msgspec.Meta(
        description="the table's shape: spancast (bigquery_schema()) or openrouter (a table made from OpenRouter's"
                    " setup instructions: its columns only)",
    )] = "spancast"

    def __post_init__(self) -> None:
        # The key as a Secret whichever way it came, so no repr ever shows it.
        if isinstance(self.credentials, Mapping):
            try:
                self.credentials = Secret(orjson.dumps(self.credentials).decode())
            except TypeError:
                raise TypeError("credentials: the mapping is not JSON (give the key file's content)") from None
        elif not isinstance(self.credentials, Secret):
            self.credentials = Secret(self.credentials)


class BigQueryDestination(Destination):
    """Rows into one BigQuery table by streaming inserts, a batch per insertAll; self-signed JWT auth."""

    type = "bigquery"
    settings_class = BigQuerySettings
    retryable = frozenset({408, 429, 500, 502, 503, 504})
    secret_headers = frozenset({"authorization"})
    max_batch_bytes = MAX_REQUEST_BYTES
    max_batch_records = MAX_ROWS

    def validate(self, where: str) -> None:
        s = self.settings
        try:
            self._auth = _google_auth()
        except ImportError:
            raise ConfigError(f"{where}.type", "the bigquery destination needs google-auth: pip install"
                                               " 'spancast[bigquery]'") from None
        _check(_PROJECT, s.project_id, f"{where}.projectId", "a project id such as my-project (6 to 30 lower-case"
                                                            " letters, digits and -, or example.com:my-project)")
        _check(_DATASET, s.dataset, f"{where}.dataset", "letters, digits and _ (at most 1024)")
        _check(_TABLE, s.table, f"{where}.table", "letters, digits, _ and - (at most 1024)")
        info = _key_info(s.credentials, f"{where}.credentials")
        try:
            self._signer = self._auth.RSASigner.from_service_account_info(info)
        except Exception:  # noqa: BLE001 - whatever the key's fault, its text is never repeated
            raise ConfigError(f"{where}.credentials", "private_key is not a PEM RSA private key: give the key file"
                                                      " as Google issued it") from None
        self.client_email: str = info["client_email"]
        parts = urlsplit(s.base_url)
        if "@" in parts.netloc:
            raise ConfigError(f"{where}.baseUrl", "must not hold credentials: set credentials instead")
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(f"{where}.baseUrl", f"expected an http(s) URL without a query, such as"
                                                  f" {DEFAULT_BASE_URL}, got {s.base_url!r}")
        for name in s.headers:
            if name.lower() == "authorization":
                raise ConfigError(f"{where}.headers.{name}", "set credentials instead (spancast signs its own JWT)")
        try:
            resource = orjson.dumps({k: values.plain_value(v) for k, v in _PY.resource_attrs(s.resource or None)}).decode()
        except (EncodeError, TypeError) as exc:
            raise ConfigError(f"{where}.resource", str(exc)) from None
        self.resource_attributes = resource
        path = f"/bigquery/v2/projects/{s.project_id}/datasets/{s.dataset}/tables/{s.table}/insertAll"
        self.url = s.base_url.rstrip("/") + path
        self._render = _render(resource, self.id_salt, s.schema)
        flags = {"kind": KIND, "skipInvalidRows": s.skip_invalid_rows, "ignoreUnknownValues": False}
        self._prefix = orjson.dumps(flags)[:-1] + b',"rows":['
        self._headers = merge_headers(s.headers, {"Content-Type": "application/json", "Accept": "application/json",
                                                  "User-Agent": "spancast"})
        self._token: tuple[Secret, int] | None = None  # (the Authorization value, its exp)
        self.clock: Callable[[], float] = time.time

    # ------------------------------------------------------------ auth

    def _authorization(self) -> Secret:
        """``Bearer <jwt>``: the cached one, or a new one when the cached one has under 5 minutes left."""
        now = self.clock()
        token = self._token
        if token is None or now >= token[1] - REMINT_BEFORE_S:
            issued = int(now)
            claims = {"iss": self.client_email, "sub": self.client_email, "aud": AUDIENCE, "iat": issued,
                      "exp": issued + TOKEN_LIFETIME_S}
            jwt = self._auth.encode(self._signer, claims).decode("ascii")
            token = self._token = (Secret(f"Bearer {jwt}"), issued + TOKEN_LIFETIME_S)
        return token[0]

    # ------------------------------------------------------------ requests

    def new_encoder(self, format: str | None = None) -> EventEncoder:
        """One insertAll body per batch (format is ignored: rows have one rendering)."""
        return EventEncoder(self._render, prefix=self._prefix, separator=b",", suffix=b"]}")

    def request(self, body: bytes) -> Request:
        """The insertAll POST of one batch, with a JWT minted (or reused) now."""
        return Request("POST", self.url, {**self._headers, "Authorization": self._authorization()}, body)

    def test_payload(self) -> tuple[Payload, frozenset[int]]:
        """The permission probe: an insertAll of one row that cannot go in (see the module docstring)."""
        shaped = openrouter_row if self.settings.schema == "openrouter" else row
        values = {**shaped(test_record(), self.resource_attributes, self.id_salt), PROBE_COLUMN: True}
        body = orjson.dumps({"kind": KIND, "skipInvalidRows": False, "ignoreUnknownValues": False,
                             "rows": [{"insertId": "spancast-connection-test", "json": values}]})
        return Payload(body), frozenset()

    def test_refusal(self, status: int | None, answer: str) -> str | None:
        """Why the probe's 200 still means rows would not go in: its insertErrors name a column other than the
        probe's (the table lacks a column this destination writes, or refuses its value); None when they name
        only the probe column, or cannot be read."""
        try:
            entries = json.loads(answer).get("insertErrors") or []
            named = {err.get("location") for e in entries for err in e.get("errors") or []
                     if err.get("reason") == "invalid"}
        except (ValueError, AttributeError, TypeError):  # cut short at 4 KiB, or not BigQuery's answer
            return None
        others = named - {PROBE_COLUMN, None, ""}
        if not others:
            return None
        # only names that look like columns are repeated: the answer is the receiver's text, not ours
        return self._misfit(sorted(n for n in others if isinstance(n, str) and _COLUMN.fullmatch(n)))

    def _misfit(self, columns: list[str]) -> str:
        """The hint for a table that refuses the columns of this destination's rows (names: the first three)."""
        named = f" ({', '.join(columns[:3])})" if columns else ""
        if self.settings.schema == "openrouter":
            return (f"the table does not fit rows in OpenRouter's shape{named}: create it from OpenRouter's setup"
                    " instructions or bigquery_schema(..., schema='openrouter'), or set schema: spancast for a table"
                    " made from bigquery_schema()")
        return (f"the table does not fit spancast's rows{named}: create it from bigquery_schema(), or set schema:"
                " openrouter for a table made from OpenRouter's setup instructions")

    # ------------------------------------------------------------ answers

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Decision:
        if 200 <= status < 300:
            return self._inserted(status, bytes(body))
        reason, message = _error(body)
        if status == 401:
            self._token = None  # the next attempt (a later batch) signs afresh
        if status == 403 and reason in _QUOTA:
            after = parse_retry_after(headers.get("Retry-After") if headers else None)
            return Decision(Action.RETRY, status, after, True, f"BigQuery {reason}")
        if status == 400 and "payload size exceeds" in message.lower():
            return Decision(Action.SPLIT, status, reason="request beyond BigQuery's 10 MB")
        decision = decide(status, headers, retryable=self.retryable)
        if reason and decision.action is Action.PERMANENT:
            return Decision(Action.PERMANENT, status, reason=f"BigQuery {reason}")
        return decision

    def _inserted(self, status: int, body: bytes) -> Decision:
        """A 200: delivered, with the rows its insertErrors list as rejected (or retried, when only transient)."""
        if b'"insertErrors"' not in body:
            return Decision(Action.DELIVERED, status)
        try:
            entries = json.loads(body).get("insertErrors") or []
            rows = {e.get("index") for e in entries}
            errors = [(e.get("index"), err) for e in entries for err in e.get("errors") or []]
        except (ValueError, AttributeError, TypeError):  # cut short (the sender reads 64 KiB) or odd
            rows = {int(i) for i in _INDEX.findall(body)}
            errors = [(None, {"reason": r}) for r in _REASON.findall(body.decode("utf-8", "replace"))]
        if not rows and not errors:
            return Decision(Action.DELIVERED, status)
        reasons = {err.get("reason") for _, err in errors} - {"stopped"}
        first = next(((i, err) for i, err in errors if err.get("reason") != "stopped"), (None, {}))
        where, err = first
        said = f"row {where}: " if where is not None else ""
        said += f"{err.get('reason', 'error')}"
        said += f" at {err['location']}" if err.get("location") else ""
        said += f": {err['message']}" if err.get("message") else ""
        if reasons and reasons <= _TRANSIENT:
            return Decision(Action.RETRY, status, None, bool(reasons & _QUOTA), f"BigQuery {said}"[:300])
        # skipInvalidRows false: nothing of the request went in (the sender counts at most the batch's records)
        rejected = len(rows) if self.settings.skip_invalid_rows else MAX_ROWS
        return Decision(Action.DELIVERED, status, rejected_spans=max(rejected, 1), reason=f"BigQuery {said}"[:300])

    def hint(self, status: int | None, excerpt: str) -> str | None:
        """The usual cause of a failed connection test, from the status and BigQuery's error reason."""
        found = _REASON.search(excerpt)
        reason = found.group(1) if found else ""
        text = excerpt.lower()
        if status == 401:
            return ("credentials refused: BigQuery did not accept the self-signed JWT; check that credentials holds a"
                    " current key of the service account (keys can be deleted or disabled) and this machine's clock")
        if status == 403:
            if reason in _QUOTA:
                return "a BigQuery rate limit or quota was reached: try again later"
            if "billing" in text or "free tier" in text or reason == "billingNotEnabled":
                return ("the credentials are fine but streaming inserts need billing: the BigQuery sandbox (free tier)"
                        " refuses them; enable billing on the project")
            return ("credentials lack permission: the service account needs BigQuery Data Editor on the dataset"
                    " (bigquery.tables.updateData and tables.get), and the BigQuery API enabled in projectId")
        if status == 400 and ("no such field" in text or "missing required field" in text):
            return self._misfit(sorted(set(_FIELD.findall(excerpt)) - {PROBE_COLUMN}))
        if status == 404:
            return ("no such project, dataset or table, or a wrong baseUrl path: create the table from"
                    " spancast.destinations.bigquery.bigquery_schema(project, dataset, table) (.ddl, or .fields_json()"
                    " for bq mk)")
        return None

    def __repr__(self) -> str:
        s = self.settings
        return f"<BigQueryDestination name={self.name!r} table={s.project_id}.{s.dataset}.{s.table}>"


def _key_info(credentials: str, where: str) -> dict[str, Any]:
    """The service-account key as a mapping; ConfigError naming what is wrong, never repeating the key."""
    try:
        info = json.loads(credentials)
    except ValueError:
        raise ConfigError(where, "is not JSON: give the service-account key file's content (not its path)") from None
    if not isinstance(info, dict):
        raise ConfigError(where, "expected a JSON object: the service-account key file's content")
    kind = info.get("type", "service_account")
    if kind != "service_account":
        shown = kind if isinstance(kind, str) and len(kind) < 40 else type(kind).__name__
        raise ConfigError(where, f"expected a service-account key (type service_account), got type {shown!r}")
    for key in ("client_email", "private_key"):
        if not isinstance(info.get(key), str) or not info[key]:
            raise ConfigError(where, f"the key has no {key}: give the whole service-account key file")
    if "private_key_id" in info and not isinstance(info["private_key_id"], str):
        raise ConfigError(where, "private_key_id must be a string")
    return info


def _error(body: bytes) -> tuple[str, str]:
    """(the first error reason, the message) of a Google API error body; ("", "") when it is not one."""
    try:
        error = json.loads(body).get("error")
        message = error.get("message") or ""
        reason = next((e.get("reason") for e in error.get("errors") or [] if e.get("reason")), "")
        return (reason, message) if isinstance(reason, str) and isinstance(message, str) else ("", "")
    except (ValueError, AttributeError, TypeError):
        return "", ""

