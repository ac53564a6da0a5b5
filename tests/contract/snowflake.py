"""Contract data for snowflake: a config aimed at a local fake of the SQL API, and what the real API checks.

The fake stands in for ``POST /api/v2/statements`` (the requestId query string is not part of the path
check): a programmatic access token as Bearer with its token-type header, a JSON body of the statement
request's shape, a statement that is one INSERT into the configured table naming every column of
snowflake_ddl(), whose rows are placeholder groups only (no value ever in the SQL text), and bindings
numbered 1..n, one per placeholder, each {"type": "TEXT", "value": <str>}. The probe of a connection
test is the same INSERT over one row of NULLs, WHERE FALSE, without bindings.
"""

import json
import re

from spancast.destinations.snowflake import COLUMNS

TOKEN = "sf-pat-contract-3f9a1c7e5b2d4068"
SECRETS = (TOKEN,)
PATH = "/api/v2/statements"
METHOD = "POST"
CONTENT_TYPE = "application/json"
BODY = "snowflake-sql"
DATABASE, SCHEMA, TABLE = "OBSERVABILITY", "PUBLIC", "OPENROUTER_TRACES"
WAREHOUSE, ROLE = "COMPUTE_WH", "SPANCAST_WRITER"
_KEYS = {"statement", "bindings", "timeout", "database", "schema", "warehouse", "role", "parameters"}
_N = len(COLUMNS)
_GROUP = rf"\(\?(?:, \?){{{_N - 1}}}\)"
_NULLS = rf"\(NULL(?:, NULL){{{_N - 1}}}\)"
_INSERT = (rf'INSERT INTO "{DATABASE}"\."{SCHEMA}"\."{TABLE}" \({", ".join(n for n, _ in COLUMNS)}\) '
           r"SELECT (?P<select>[^;?']*(?:''[^;?']*)*) FROM \(VALUES ")
_ROWS = re.compile(_INSERT + rf"(?P<rows>{_GROUP}(?:, {_GROUP})*)\)")
_PROBE = re.compile(_INSERT + rf"{_NULLS}\) WHERE FALSE")


def config(base_url: str, **extra) -> dict:
    return {"type": "snowflake", "account": "xy12345.us-east-1", "token": TOKEN, "baseUrl": base_url,
            "database": DATABASE, "schema": SCHEMA, "table": TABLE, "warehouse": WAREHOUSE, "role": ROLE, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    if _get(headers, "authorization") != f"Bearer {TOKEN}":
        return "390303: Invalid OAuth access token (Authorization must be Bearer <the token>)"
    if _get(headers, "x-snowflake-authorization-token-type") != "PROGRAMMATIC_ACCESS_TOKEN":
        return "a PAT needs X-Snowflake-Authorization-Token-Type: PROGRAMMATIC_ACCESS_TOKEN"
    if not _get(headers, "user-agent"):
        return "User-Agent is required"
    return None


def decode(body: bytes, content_type: str) -> list[str]:
    """The GENERATION_IDs bound in a statement request (the first column of each row); ValueError for what
    the SQL API refuses: malformed JSON or fields (400), a statement that is not the INSERT into the
    configured table, or bindings that do not match its placeholders one for one (422)."""
    doc = json.loads(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("statement"), str) or set(doc) - _KEYS:
        raise ValueError("400: the body must be an object with statement and only the documented fields")
    context = (doc.get("database"), doc.get("schema"), doc.get("warehouse"), doc.get("role"))
    if context != (DATABASE, SCHEMA, WAREHOUSE, ROLE):
        raise ValueError(f"422: wrong statement context {context}")
    if not isinstance(doc.get("timeout", 0), int) or doc.get("timeout", 0) < 0:
        raise ValueError("400: timeout must be a non-negative integer")
    statement, bindings = doc["statement"], doc.get("bindings", {})
    if _PROBE.fullmatch(statement) and not bindings:
        return []
    match = _ROWS.fullmatch(statement)
    if match is None:
        raise ValueError("422: not the INSERT into the configured table, or a value written into the SQL text")
    placeholders = statement.count("?")
    if not isinstance(bindings, dict) or sorted(bindings, key=int) != [str(i) for i in range(1, placeholders + 1)]:
        raise ValueError(f"422: {placeholders} placeholders but bindings {sorted(bindings)[:5]}...")
    for key, bound in bindings.items():
        if bound.keys() != {"type", "value"} or bound["type"] != "TEXT" or not isinstance(bound["value"], str):
            raise ValueError(f"422: binding {key} is not {{type: TEXT, value: <string>}}")
    for key in range(1, placeholders + 1, _N):  # VARIANT columns must parse (PARSE_JSON fails the statement)
        for offset, (name, kind) in enumerate(COLUMNS):
            text = bindings[str(key + offset)]["value"]
            if kind == "VARIANT" and text:
                json.loads(text)
    return [bindings[str(key)]["value"] for key in range(1, placeholders + 1, _N)]
