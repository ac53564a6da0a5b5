"""spancast serve under hostile input: bad records never fail a POST, a huge one does not shrink the intake, slow clients are cut off, and exit says what was lost."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import msgspec

from spancast import server as server_module
from spancast.testing.sink import OtlpSink, Reply

from conftest import full_record
from serving import run_server
from sinkthread import SinkThread

NDJSON = {"Content-Type": "application/x-ndjson"}


def run(scenario, sink: OtlpSink | None = None, server_settings: dict | None = None, **pipeline):
    return run_server(scenario, sink=sink, server=server_settings, pipeline=pipeline)


def test_a_record_nested_too_deep_is_named_and_its_neighbours_go_without_a_traceback(caplog):
    """Issue 16, case 6: a record nested 1,000 levels used to fail the whole POST with a 500 and a
    traceback; now it is refused by name and the good records beside it are taken."""
    deep = b'{"id": "deep", "model": "m", "start_time_ns": 1, "end_time_ns": 2, "trace": {"x": ' + b"[" * 1000 + \
        b"]" * 1000 + b"}}"
    lines = [msgspec.json.encode(full_record(1)), deep, msgspec.json.encode(full_record(2))]

    async def scenario(server, session, sink):
        async with session.post("/v1/generations", data=b"\n".join(lines), headers=NDJSON) as r:
            answer = (r.status, await r.json())
        await sink.wait_for(lambda s: len(s.generation_ids()) == 2)
        return answer

    with caplog.at_level(logging.INFO):
        status, answer = run(scenario)
    assert status == 202 and answer["accepted"] == 2
    assert answer["errors"] == [{"index": 1, "field": "trace", "error": "nested deeper than 128 levels"}]
    assert not [r for r in caplog.records if r.exc_info]


def test_an_unexpected_error_is_a_500_and_one_log_line_per_cause(caplog, monkeypatch):
    def broken(body):
        raise KeyError("a bug")

    monkeypatch.setattr(server_module, "decode_records", broken)

    async def scenario(server, session, sink):
        statuses = []
        for _ in range(5):
            async with session.post("/v1/generations", data=msgspec.json.encode(full_record(1)), headers=NDJSON) as r:
                statuses.append(r.status)
        return statuses

    with caplog.at_level(logging.INFO):
        assert run(scenario) == [500] * 5
    logged = [r for r in caplog.records if "POST /v1/generations failed" in r.getMessage()]
    assert len(logged) == 1 and "KeyError" in logged[0].getMessage() and not logged[0].exc_info


def test_one_huge_record_does_not_shrink_the_intake(caplog):
    """Issue 16, case 7: after one 10 MB record, 50,000 small ones in the next POST are all taken (the size
    estimate gave that lone record a quarter of its weight, and the intake room for about 200)."""
    huge = full_record(0, completion="x" * 10_000_000)
    small = b"\n".join(b'{"id": "s-%d", "model": "m", "start_time_ns": 1, "end_time_ns": 2}' % i for i in range(50_000))

    async def scenario(server, session, sink):
        async with session.post("/v1/generations", data=msgspec.json.encode(huge), headers=NDJSON) as r:
            assert r.status == 202
        await sink.wait_for(lambda s: len(s.generation_ids()) == 1, 30)
        async with session.post("/v1/generations", data=small, headers=NDJSON) as r:
            return r.status, (await r.json())["accepted"]

    assert run(scenario) == (202, 50_000)


def test_slow_and_half_sent_requests_are_cut_off():
    """Issue 16, case 9: connections that never finish their headers, or their body, are closed after
    server.header_timeout_s and body_timeout_s (408 for a body), not held for as long as they like."""
    async def scenario(server, session, sink):
        host, port = server.host, server.port
        half_sent = []
        for _ in range(50):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"POST /v1/generations HTTP/1.1\r\nHost: x\r\nContent-Ty")
            half_sent.append((reader, writer))
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"POST /v1/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"id\":")
        answer = await asyncio.wait_for(reader.read(), 10)  # until the server closes it
        closed = await asyncio.wait_for(asyncio.gather(*(r.read() for r, _ in half_sent)), 10)
        for _, w in [*half_sent, (reader, writer)]:
            w.close()
        return answer, closed, server.watchdog.closed

    answer, closed, count = run(scenario, server_settings={"header_timeout_s": 0.5, "body_timeout_s": 0.5})
    assert answer.startswith(b"HTTP/1.1 408") and b"body not received within 0.5s" in answer
    assert closed == [b""] * 50 and count >= 50


SERVE_CONFIG = """
[pipeline]
shutdown_timeout_s = 0.5
[pipeline.retry]
max_attempts = 1000
max_retry_elapsed_s = 600
initial_backoff_s = 0.05
max_backoff_s = 0.1
{spool}
[[destinations]]
type = "otel-collector"
name = "sink"
endpoint = "{endpoint}"
"""


def serve_and_stop(tmp_path: Path, spool: str) -> tuple[int, str]:
    """Serve with the destination down, take 50 records, SIGTERM: (exit status, what was logged)."""
    with SinkThread(OtlpSink(default=Reply.error(503))) as sink:
        (tmp_path / "spancast.toml").write_text(SERVE_CONFIG.format(endpoint=sink.url, spool=spool))
        proc = subprocess.Popen([sys.executable, "-m", "spancast.cli", "serve", "--config", "spancast.toml",
                                 "--port", "0"], stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        url = next(m.group(1) for line in proc.stderr if (m := re.search(r"serving on (http://\S+)", line)))

        async def post():
            body = b"\n".join(msgspec.json.encode(full_record(i)) for i in range(50))
            async with aiohttp.ClientSession() as s, s.post(url + "/v1/generations", data=body, headers=NDJSON) as r:
                assert r.status == 202

        asyncio.run(post())
        proc.send_signal(signal.SIGTERM)
        log = proc.stderr.read()
        return proc.wait(30), log


def test_shutdown_logs_what_each_destination_lost_and_exits_1_when_records_were_lost(tmp_path):
    """Issue 16, case 8: without a spool, what the deadline leaves is lost: a summary line per destination
    says so, and the exit status is 1."""
    status, log = serve_and_stop(tmp_path, spool="")
    assert status == 1
    assert "at exit, sink: delivered 0, dropped shutdown_deadline 50" in log
    assert "50 accepted records were lost" in log


def test_with_a_spool_what_the_deadline_leaves_is_kept_and_exit_is_0(tmp_path):
    status, log = serve_and_stop(tmp_path, spool='[spool]\ndirectory = "spool"')
    assert status == 0
    assert "at exit, sink: delivered 0, dropped none, left in the spool 50" in log
