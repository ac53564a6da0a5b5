"""The clickhouse destination's DDL and rows on a current ClickHouse release (the engine chdb embeds).

The HTTP tests (test_clickhouse.py) run against Debian's clickhouse-server, 18.16, the oldest release
the destination supports; no current server installs here, so this checks the other end of the
range where it can differ: the same DDL creates the table, and the same JSONEachRow rows insert and
read back equal, on the engine of a current release.
"""

from __future__ import annotations

import json
import time
from urllib.parse import unquote

import chdb
from chdb import session

from conftest import full_record
from spancast.destinations.clickhouse import clickhouse_ddl, render, row


def test_the_engine_is_a_current_release():
    major = int(chdb.query("SELECT version()", "CSV").bytes().decode().strip().strip('"').split(".")[0])
    assert major >= 24


def test_ddl_and_rows_work_on_a_current_release():
    recs = [full_record(i) for i in range(3)] + [
        full_record(9, status="error", error_type="rate_limit", error_message="slow down", user=None, session_id=None,
                    streamed=None, time_to_first_token_ms=None, messages=None, completion=None)
    ]
    s = session.Session()
    s.query("CREATE DATABASE IF NOT EXISTS spancast_current")
    s.query(clickhouse_ddl("spancast_current", "traces"))
    body = b"".join(render(r) + b"\n" for r in recs).decode()
    s.query("INSERT INTO spancast_current.traces FORMAT JSONEachRow " + body)
    out = s.query("SELECT * FROM spancast_current.traces ORDER BY GENERATION_ID "
                  "SETTINGS output_format_json_quote_64bit_integers = 0, session_timezone = 'UTC'", "JSONEachRow").bytes().decode()
    got = {r["GENERATION_ID"]: r for r in map(json.loads, out.splitlines())}
    assert sorted(got) == sorted(r.id for r in recs)
    for rec in recs:
        sent, back = row(rec), got[rec.id]
        assert set(back) == set(sent)
        for column, value in sent.items():
            if column == "TIMESTAMP":  # sent as unix seconds, read back as UTC text
                assert back[column] == time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value)), column
            elif isinstance(value, float):
                assert abs(back[column] - value) <= 1e-9 * max(1.0, abs(value)), column
            elif isinstance(value, bool):
                assert back[column] == int(value), column
            else:
                assert back[column] == value, column


def test_the_ddl_is_printed_by_a_command():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "spancast.destinations.clickhouse", "analytics", "llm_calls"],
                         capture_output=True, text=True, check=True).stdout
    assert out == clickhouse_ddl("analytics", "llm_calls") and out.startswith("CREATE TABLE IF NOT EXISTS `analytics`")


def test_a_table_made_from_openrouters_instructions_takes_the_rows_too():
    # schema: openrouter writes OpenRouter's columns only, TIMESTAMP with milliseconds (DateTime64(3))
    from spancast.destinations import make_destination
    from spancast.destinations.clickhouse import clickhouse_ddl, openrouter_row

    recs = [full_record(i, start_time_ns=1_732_000_000_123_000_000 + i) for i in range(3)]
    s = session.Session()
    s.query("CREATE DATABASE IF NOT EXISTS openrouter_shape")
    s.query(clickhouse_ddl("openrouter_shape", "OPENROUTER_TRACES", schema="openrouter"))
    d = make_destination({"type": "clickhouse", "host": "http://127.0.0.1:8123", "database": "openrouter_shape",
                          "schema": "openrouter"})
    encoder = d.new_encoder()
    encoder.extend(recs)
    s.query("INSERT INTO openrouter_shape.OPENROUTER_TRACES FORMAT JSONEachRow " + encoder.finish().decode())
    # the connection test's probe names exactly the columns such a table has (an extra one would be Code 16)
    probe = unquote(d.test_request()[0].url.split("query=", 1)[1])
    table = s.query("SELECT name FROM system.columns WHERE database = 'openrouter_shape' ORDER BY position",
                    "CSV").bytes().decode().replace('"', "").split()
    assert probe.split("(", 1)[1].split(")", 1)[0].split(", ") == table
    out = s.query("SELECT TRACE_ID, TIMESTAMP, MODEL, TOTAL_COST FROM openrouter_shape.OPENROUTER_TRACES ORDER BY SPAN_ID "
                  "SETTINGS session_timezone = 'UTC'", "JSONEachRow").bytes().decode()
    got = [json.loads(line) for line in out.splitlines()]
    assert len(got) == 3 and {r["TIMESTAMP"] for r in got} == {"2024-11-19 07:06:40.123"}
    assert set(openrouter_row(recs[0])) == {"TRACE_ID", "SPAN_ID", "TIMESTAMP", "USER_ID", "SESSION_ID", "MODEL",
        "PROVIDER_NAME", "API_KEY_NAME", "STATUS", "LEVEL", "SPAN_TYPE", "FINISH_REASON", "DURATION_MS", "PROMPT_TOKENS",
        "COMPLETION_TOKENS", "TOTAL_TOKENS", "TOTAL_COST", "ATTRIBUTES", "INPUT", "OUTPUT", "METADATA", "MODEL_PARAMETERS"}
