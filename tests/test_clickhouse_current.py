"""The clickhouse destination's DDL and rows on a current ClickHouse release (the engine chdb embeds).

The HTTP tests (test_clickhouse.py) run against Debian's clickhouse-server, 18.16, the oldest release
the destination supports; no current server installs here, so this checks the other end of the
range where it can differ: the same DDL creates the table, and the same JSONEachRow rows insert and
read back equal, on the engine of a current release.
"""

from __future__ import annotations

import json
import time

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
