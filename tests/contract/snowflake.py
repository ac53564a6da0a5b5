"""Contract data for snowflake: a config aimed at a local fake of the SQL API, and what the real API checks.

The fake is written from Snowflake's and OpenRouter's documentation, not checked against Snowflake: the
weakest evidence the suite has (no Snowflake runs here). It stands in for ``POST /api/v2/statements`` (the
requestId query string is not part of the path check): a programmatic access token as Bearer with its
token-type header, a JSON body of the statement request's shape, a statement that is one INSERT into the
configured table naming only columns the table it holds declares (:data:`TABLE_DDL`, spancast's, or
:data:`OPENROUTER_DDL`, one made from OpenRouter's instructions; else 000904 invalid identifier) and every
NOT NULL one (else 100072, as Snowflake fails a row that leaves one NULL), each SELECT expression casting its
VALUES column to its column's type, rows that are placeholder groups only (no value ever in the SQL text),
and bindings numbered 1..n, one per placeholder, each {"type": "TEXT", "value": <str>} that converts to its
column's type. The probe of a connection test is the same INSERT over one row of NULLs, WHERE FALSE, without
bindings: it inserts no row, so only its column names and casts are checked.
"""

import json
import re

from spancast.destinations.snowflake import snowflake_ddl

TOKEN = "sf-pat-contract-3f9a1c7e5b2d4068"
SECRETS = (TOKEN,)
PATH = "/api/v2/statements"
METHOD = "POST"
CONTENT_TYPE = "application/json"
BODY = "snowflake-sql"
DATABASE, SCHEMA, TABLE = "OBSERVABILITY", "PUBLIC", "OPENROUTER_TRACES"
WAREHOUSE, ROLE = "COMPUTE_WH", "SPANCAST_WRITER"
_KEYS = {"statement", "bindings", "timeout", "database", "schema", "warehouse", "role", "parameters"}

#: The table the fake holds by default: spancast's, as snowflake_ddl() prints it for a user to create.
TABLE_DDL = snowflake_ddl(DATABASE, SCHEMA, TABLE)
#: A table made from OpenRouter's instructions, written here from its Snowflake page
#: (https://openrouter.ai/docs/guides/features/broadcast/snowflake; spec §3.16): the columns its queries
#: name, ATTRIBUTES / INPUT / OUTPUT / METADATA / MODEL_PARAMETERS VARIANT, and SPAN_ID, which the page does
#: not name but the spec's "same column names as ClickHouse" and BigQuery's page do. OpenRouter shows the
#: exact DDL only in its dashboard: the scalar types below are the natural ones for what the page says each
#: column holds, and the fake accepts any type of the same family (NUMBER / INTEGER, FLOAT / DOUBLE, ...).
OPENROUTER_DDL = f"""CREATE TABLE {TABLE} (
    TRACE_ID VARCHAR, SPAN_ID VARCHAR, TIMESTAMP TIMESTAMP_NTZ, USER_ID VARCHAR, SESSION_ID VARCHAR,
    MODEL VARCHAR, PROVIDER_NAME VARCHAR, API_KEY_NAME VARCHAR, STATUS VARCHAR, LEVEL VARCHAR,
    SPAN_TYPE VARCHAR, FINISH_REASON VARCHAR, DURATION_MS FLOAT, PROMPT_TOKENS NUMBER, COMPLETION_TOKENS NUMBER,
    TOTAL_TOKENS NUMBER, TOTAL_COST FLOAT, ATTRIBUTES VARIANT, INPUT VARIANT, OUTPUT VARIANT, METADATA VARIANT,
    MODEL_PARAMETERS VARIANT
);"""

# What a SELECT expression over a TEXT binding may be, for each family of column types.
_FAMILIES = {"VARCHAR": "text", "STRING": "text", "TEXT": "text", "NUMBER": "number", "INTEGER": "number",
             "INT": "number", "BIGINT": "number", "FLOAT": "float", "DOUBLE": "float", "REAL": "float",
             "BOOLEAN": "boolean", "TIMESTAMP_NTZ": "timestamp", "TIMESTAMP_LTZ": "timestamp",
             "TIMESTAMP_TZ": "timestamp", "TIMESTAMP": "timestamp", "VARIANT": "variant", "OBJECT": "variant"}
_EXPRESSIONS = {"text": r"column{i}", "number": r"column{i}::NUMBER\(38,0\)", "float": r"column{i}::FLOAT",
                "boolean": r"column{i}::BOOLEAN", "timestamp": r"TO_TIMESTAMP_NTZ\(column{i}::NUMBER\(38,0\), 9\)",
                "variant": r"PARSE_JSON\(NULLIF\(column{i}, ''\)\)"}
_INSERT = re.compile(rf'INSERT INTO "{DATABASE}"\."{SCHEMA}"\."{TABLE}" \((?P<names>[A-Z_]+(?:, [A-Z_]+)*)\) '
                     r"SELECT (?P<select>[^;?']*(?:''[^;?']*)*) FROM \(VALUES (?P<rows>.*)\)(?P<probe> WHERE FALSE)?")


def table_of(ddl: str) -> dict[str, str]:
    """A CREATE TABLE statement's columns, name -> the family of its type (text, number, float, ...)."""
    inside = ddl[ddl.index("(") + 1: ddl.rindex(")")]
    out = {}
    for column in re.split(r",\s*(?![^()]*\))", inside.strip()):
        name, kind = column.split()[:2]
        out[name.strip('"')] = _FAMILIES[kind.split("(")[0].upper()]
    return out


def not_null(ddl: str) -> set[str]:
    """The columns a CREATE TABLE statement declares NOT NULL."""
    inside = ddl[ddl.index("(") + 1: ddl.rindex(")")]
    return {column.split()[0].strip('"') for column in re.split(r",\s*(?![^()]*\))", inside.strip())
            if re.search(r"\bNOT\s+NULL\b", column, re.IGNORECASE)}


def split_select(select: str) -> list[str]:
    """A SELECT list's expressions, split at its top-level commas (tests/test_snowflake.py uses it too)."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(select):
        depth += c == "("
        depth -= c == ")"
        if c == "," and depth == 0:
            out.append(select[start:i].strip())
            start = i + 1
    return out + [select[start:].strip()]


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


def decode(body: bytes, content_type: str, ddl: str = TABLE_DDL) -> list[str]:
    """The first column bound in each row of a statement request (GENERATION_ID in spancast's table); ValueError
    for what the SQL API refuses: malformed JSON or fields (400), a statement that is not one INSERT into the
    configured table, a column the table (ddl) does not have, rows that leave a NOT NULL column out, a SELECT
    expression that does not cast its VALUES column to its column's type, or bindings that do not match the
    placeholders one for one or do not convert to their column's type (422)."""
    doc = json.loads(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("statement"), str) or set(doc) - _KEYS:
        raise ValueError("400: the body must be an object with statement and only the documented fields")
    context = (doc.get("database"), doc.get("schema"), doc.get("warehouse"), doc.get("role"))
    if context != (DATABASE, SCHEMA, WAREHOUSE, ROLE):
        raise ValueError(f"422: wrong statement context {context}")
    if not isinstance(doc.get("timeout", 0), int) or doc.get("timeout", 0) < 0:
        raise ValueError("400: timeout must be a non-negative integer")
    statement, bindings = doc["statement"], doc.get("bindings", {})
    match = _INSERT.fullmatch(statement)
    if match is None:
        raise ValueError("422: not the INSERT into the configured table, or a value written into the SQL text")
    table = table_of(ddl)
    names = match["names"].split(", ")
    for name in names:
        if name not in table:
            raise ValueError(f"422: 000904 (42000): SQL compilation error: invalid identifier '{name}'")
    select = split_select(match["select"])
    if len(select) != len(names):
        raise ValueError(f"422: {len(names)} columns but {len(select)} values")
    for i, (name, expression) in enumerate(zip(names, select), 1):
        if not re.fullmatch(_EXPRESSIONS[table[name]].format(i=i), expression):
            raise ValueError(f"422: {expression} is not a {table[name]} for column {name}")
    n = len(names)
    group, nulls = rf"\(\?(?:, \?){{{n - 1}}}\)", rf"\(NULL(?:, NULL){{{n - 1}}}\)"
    if match["probe"]:
        if re.fullmatch(nulls, match["rows"]) and not bindings:
            return []
        raise ValueError("422: the probe must be one row of NULLs, without bindings")
    if not re.fullmatch(rf"{group}(?:, {group})*", match["rows"]):
        raise ValueError("422: rows must be placeholder groups only (no value in the SQL text)")
    left_null = sorted(not_null(ddl) - set(names))
    if left_null:  # a column the INSERT does not name is NULL in every row
        raise ValueError(f"422: 100072 (22000): NULL result in a non-nullable column {left_null[0]}")
    placeholders = statement.count("?")
    if not isinstance(bindings, dict) or sorted(bindings, key=int) != [str(i) for i in range(1, placeholders + 1)]:
        raise ValueError(f"422: {placeholders} placeholders but bindings {sorted(bindings)[:5]}...")
    for key, bound in bindings.items():
        if bound.keys() != {"type", "value"} or bound["type"] != "TEXT" or not isinstance(bound["value"], str):
            raise ValueError(f"422: binding {key} is not {{type: TEXT, value: <string>}}")
    for key in range(1, placeholders + 1, n):  # each value must convert to its column's type
        for offset, name in enumerate(names):
            text = bindings[str(key + offset)]["value"]
            family = table[name]
            if family == "variant" and text:
                json.loads(text)  # PARSE_JSON fails the statement otherwise
            elif family in ("number", "timestamp") and not re.fullmatch(r"-?\d+", text):
                raise ValueError(f"422: Numeric value '{text}' is not recognized ({name})")
            elif family == "float":
                float(text)
    return [bindings[str(key)]["value"] for key in range(1, placeholders + 1, n)]
