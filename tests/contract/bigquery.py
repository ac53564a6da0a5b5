"""Contract data for bigquery: a config aimed at a local fake of tabledata.insertAll, and what BigQuery checks.

The fake is written from Google's and OpenRouter's documentation, not checked against BigQuery: the weakest
evidence the suite has (no BigQuery runs here). The service account is generated here, at import time, with
cryptography (a fresh RSA key per run: the golden request holds neither the key nor the JWT, since previews
mask Authorization). The fake stands in for ``POST /bigquery/v2/projects/<p>/datasets/<d>/tables/<t>/insertAll``:
a Bearer self-signed JWT whose RS256 signature verifies with the account's public key, with its kid, iss =
sub = the account's email, aud = https://bigquery.googleapis.com/ and an unexpired exp at most an hour after
iat (else 401, as Google answers); a JSON body of the insertAll request's shape, every row an insertId
(unique in the request) and a json object whose keys are columns of the table it holds (:data:`TABLE_DDL`,
spancast's, or :data:`OPENROUTER_DDL`, one made from OpenRouter's instructions), each value of the column's
type as the legacy streaming API takes it, and every REQUIRED column present. BigQuery lists a row it refuses
in a 200's insertErrors ("no such field: x.", "Missing required field: x."); the fake answers 400 with that
message instead. The connection test's probe row (one row carrying PROBE_COLUMN, which BigQuery would answer
with an insertError and not insert) inserts nothing, but its other columns are checked as a row's are.
"""

import base64
import json
import re
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from spancast.destinations.bigquery import AUDIENCE, KIND, PROBE_COLUMN, bigquery_schema

PROJECT, DATASET, TABLE = "spancast-contract", "observability", "openrouter_traces"
CLIENT_EMAIL = f"spancast-writer@{PROJECT}.iam.gserviceaccount.com"
PRIVATE_KEY_ID = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_KEY = _KEY.public_key()
PRIVATE_KEY_PEM = _KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()
KEY_INFO = {
    "type": "service_account", "project_id": PROJECT, "private_key_id": PRIVATE_KEY_ID,
    "private_key": PRIVATE_KEY_PEM, "client_email": CLIENT_EMAIL, "client_id": "100000000000000000001",
    "token_uri": "https://oauth2.googleapis.com/token", "universe_domain": "googleapis.com",
}
KEY_JSON = json.dumps(KEY_INFO)
# The key's text, and a line of its body: a partial leak is caught too.
SECRETS = (PRIVATE_KEY_PEM, PRIVATE_KEY_PEM.splitlines()[5], KEY_JSON)
PATH = f"/bigquery/v2/projects/{PROJECT}/datasets/{DATASET}/tables/{TABLE}/insertAll"
METHOD = "POST"
CONTENT_TYPE = "application/json"
BODY = "insertall"
#: The table the fake holds by default: spancast's, as bigquery_schema().ddl prints it for a user to create.
TABLE_DDL = bigquery_schema(PROJECT, DATASET, TABLE).ddl
#: A table made from OpenRouter's instructions, written here from its BigQuery page
#: (https://openrouter.ai/docs/guides/features/broadcast/bigquery; spec §3.17): the lower-case columns its
#: queries name, attributes / input / output / metadata / model_parameters / resource_attributes JSON, and the
#: ``tags`` ARRAY<STRING> its schema notes mention (spancast never writes it). OpenRouter shows the exact DDL
#: only in its dashboard: the scalar types are the natural ones for what the page says each column holds
#: (TIMESTAMP as it says), and every column is NULLABLE (the page names none REQUIRED).
OPENROUTER_DDL = f"""CREATE TABLE `{PROJECT}.{DATASET}.{TABLE}` (
  trace_id STRING, span_id STRING, timestamp TIMESTAMP, user_id STRING, session_id STRING, model STRING,
  provider_name STRING, api_key_name STRING, status STRING, level STRING, finish_reason STRING,
  duration_ms FLOAT64, prompt_tokens INT64, completion_tokens INT64, total_tokens INT64, total_cost FLOAT64,
  attributes JSON, input JSON, output JSON, metadata JSON, model_parameters JSON, resource_attributes JSON,
  tags ARRAY<STRING>
)
PARTITION BY DATE(timestamp);"""
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def config(base_url: str, **extra) -> dict:
    return {"type": "bigquery", "projectId": PROJECT, "dataset": DATASET, "table": TABLE, "credentials": KEY_JSON,
            "baseUrl": base_url, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _segment(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_jwt(token: str, now_s: float | None = None) -> dict:
    """The claims of a self-signed JWT Google would accept from this account; ValueError saying why not."""
    try:
        head, payload, signature = token.split(".")
        header, claims = json.loads(_segment(head)), json.loads(_segment(payload))
        PUBLIC_KEY.verify(_segment(signature), f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise ValueError("Invalid JWT Signature.") from None
    except (TypeError, json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"malformed JWT: {type(exc).__name__}") from None
    if header != {"alg": "RS256", "typ": "JWT", "kid": PRIVATE_KEY_ID}:
        raise ValueError(f"JWT header must be RS256/JWT with the key's kid, got {header}")
    if (claims.get("iss"), claims.get("sub"), claims.get("aud")) != (CLIENT_EMAIL, CLIENT_EMAIL, AUDIENCE):
        raise ValueError("iss and sub must be the account's email, aud BigQuery's")
    now = time.time() if now_s is None else now_s
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or not iat - 300 <= now < exp or exp - iat > 3600:
        raise ValueError("Token must be a short-lived token (60 minutes) and in a reasonable timeframe")
    return claims


def check_auth(headers) -> str | None:
    value = _get(headers, "authorization") or ""
    if not value.startswith("Bearer "):
        return "Request is missing required authentication credential (Authorization: Bearer <jwt>)"
    try:
        verify_jwt(value[7:])
    except ValueError as exc:
        return f"UNAUTHENTICATED: {exc}"
    return None


def table_of(ddl: str) -> tuple[dict[str, str], set[str]]:
    """A CREATE TABLE statement's columns (name -> type) and the REQUIRED ones (NOT NULL)."""
    start = ddl.index("(") + 1
    depth, end = 1, start
    while depth:  # to the parenthesis that closes the column list (OPTIONS (...) may follow)
        depth += {"(": 1, ")": -1}.get(ddl[end], 0)
        end += 1
    inside = ddl[start: end - 1]
    types, required = {}, set()
    for column in re.split(r",\s*", inside.strip()):
        name, kind, *rest = column.split()
        types[name] = kind
        if rest[:2] == ["NOT", "NULL"]:
            required.add(name)
    return types, required


def _check_value(column: str, value, where: str, types: dict[str, str], required: set[str]) -> None:
    kind = types[column]
    if value is None:
        if column in required:
            raise ValueError(f"{where}: Missing required field: {column}.")
        return
    ok = {
        "STRING": lambda v: isinstance(v, str),
        "INT64": lambda v: isinstance(v, str) and re.fullmatch(r"-?\d{1,19}", v) and -(2**63) <= int(v) < 2**63,
        "FLOAT64": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "BOOL": lambda v: isinstance(v, bool),
        "TIMESTAMP": lambda v: isinstance(v, str) and _TIMESTAMP.fullmatch(v),
        "JSON": lambda v: isinstance(v, str),
        "ARRAY<STRING>": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    }[kind](value)
    if not ok:
        raise ValueError(f"{where}: Cannot convert value to {kind.lower()}.")
    if kind == "JSON":
        json.loads(value)  # a JSON column takes JSON text (ValueError otherwise)


def rows(body: bytes) -> list[dict]:
    """The rows of an insertAll body; ValueError where BigQuery answers 400 (the shape) or would list the
    row in insertErrors (an unknown column, a value of the wrong type): the fake cannot say that, so it refuses."""
    doc = json.loads(body)
    if not isinstance(doc, dict) or set(doc) - {"kind", "skipInvalidRows", "ignoreUnknownValues", "templateSuffix",
                                                "rows", "traceId"}:
        raise ValueError("Invalid JSON payload received. Unknown name in the request")
    if doc.get("kind", KIND) != KIND or doc.get("ignoreUnknownValues") is not False:
        raise ValueError("kind must be bigquery#tableDataInsertAllRequest and ignoreUnknownValues false")
    if not isinstance(doc.get("skipInvalidRows", False), bool):
        raise ValueError("skipInvalidRows must be a boolean")
    given = doc.get("rows")
    if not isinstance(given, list) or not given:
        raise ValueError("No rows present in the request.")
    seen = set()
    for n, entry in enumerate(given):
        if not isinstance(entry, dict) or set(entry) != {"insertId", "json"} or not isinstance(entry["json"], dict):
            raise ValueError(f"rows[{n}] must be {{insertId, json: {{...}}}}")
        if not isinstance(entry["insertId"], str) or not entry["insertId"] or entry["insertId"] in seen:
            raise ValueError(f"rows[{n}]: insertId missing or repeated in the request")
        seen.add(entry["insertId"])
    return given


def decode(body: bytes, content_type: str, ddl: str = TABLE_DDL) -> list[str]:
    """The generation_ids a request inserts (the insertIds, in a table without that column): none for the
    connection test's probe; every row's keys must be columns of the table (ddl) and its values of their types."""
    types, required = table_of(ddl)
    given = rows(body)
    if len(given) == 1 and given[0]["json"].get(PROBE_COLUMN) is True:
        values = {k: v for k, v in given[0]["json"].items() if k != PROBE_COLUMN}
        given = [{"insertId": given[0]["insertId"], "json": values}]
        probe = True
    else:
        probe = False
    for n, entry in enumerate(given):
        values = entry["json"]
        unknown = set(values) - set(types)
        if unknown:
            raise ValueError(f"rows[{n}]: no such field: {min(unknown)}.")
        for column in types:
            _check_value(column, values.get(column), f"rows[{n}]", types, required)
    return [] if probe else [entry["json"].get("generation_id", entry["insertId"]) for entry in given]
