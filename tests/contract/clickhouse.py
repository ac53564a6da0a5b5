"""Contract data for clickhouse: a config aimed at a local fake backend, and what the real server checks.

The fake stands in for ClickHouse's HTTP interface: POST to "/" (the INSERT is in the query string,
which the fake's path check does not see), Basic auth, and a JSONEachRow body the server would take
for the table clickhouse_ddl() creates: every line one JSON object whose keys are columns of that
table, each value of the column's type (tests/test_clickhouse.py runs the same rows into a real server).
"""

import base64
import json

from spancast.destinations.clickhouse import COLUMNS

USERNAME = "spancast_writer"
PASSWORD = "ch-contract-pw-5e2b9d17a4"
SECRETS = (PASSWORD, base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode())  # password, its Basic credential
PATH = "/"
METHOD = "POST"
CONTENT_TYPE = "application/x-ndjson"
BODY = "jsoneachrow"
_TYPES = dict(COLUMNS)


def config(base_url: str, **extra) -> dict:
    return {"type": "clickhouse", "host": base_url, "database": "observability", "table": "OPENROUTER_TRACES",
            "username": USERNAME, "password": PASSWORD, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    # ClickHouse takes Basic auth (or X-ClickHouse-User/-Key, not both: mixing is Code 516).
    if _get(headers, "x-clickhouse-user") is not None or _get(headers, "x-clickhouse-key") is not None:
        return "X-ClickHouse-* headers together with Basic auth"
    value = _get(headers, "authorization") or ""
    if not value.startswith("Basic "):
        return "Authorization must be Basic"
    try:
        user, _, password = base64.b64decode(value[6:], validate=True).decode().partition(":")
    except ValueError:
        return "Basic credential is not base64 of user:password"
    if (user, password) != (USERNAME, PASSWORD):
        return "Code: 193. Wrong password for user"
    return None


def _check_value(column: str, value, row: int) -> None:
    kind = _TYPES[column]
    where = f"row {row}, column {column}"
    if kind == "String":
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a JSON string")
    elif kind in ("UInt8", "UInt64", "DateTime"):
        limit = {"UInt8": 2**8, "UInt64": 2**64, "DateTime": 2**32}[kind]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
            raise ValueError(f"{where}: expected an integer in [0, {limit})")
    elif kind == "Float64":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: expected a number")
    else:  # pragma: no cover - COLUMNS and this table change together
        raise AssertionError(kind)
    if column in ("ATTRIBUTES", "INPUT", "OUTPUT", "METADATA", "MODEL_PARAMETERS", "PROVIDER_ATTEMPTS") and value:
        json.loads(value)  # JSON-string columns hold JSON text (ValueError otherwise)


def decode(body: bytes, content_type: str) -> list[str]:
    """The GENERATION_IDs of a JSONEachRow body; ValueError for what ClickHouse would refuse (Code 117
    "Unknown field", Code 27/72 a value of the wrong type, malformed JSON)."""
    ids = []
    for n, line in enumerate(body.split(b"\n"), 1):
        if not line.strip():
            continue
        doc = json.loads(line)
        if not isinstance(doc, dict):
            raise ValueError(f"row {n}: not a JSON object")
        unknown = set(doc) - set(_TYPES)
        if unknown:
            raise ValueError(f"Code: 117. Unknown field found while parsing JSONEachRow format: {min(unknown)}")
        for column, value in doc.items():
            _check_value(column, value, n)
        ids.append(doc["GENERATION_ID"])
    return ids
