"""spancast serve over real HTTP: ingest in every shape, limits, auth, probes, metrics, signals."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import aiohttp
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from spancast.config import parse_config
from spancast.server import Server
from spancast.codec import encode_traces
from spancast.testing.sink import PROTOBUF, OtlpSink, Reply, decode_otlp

from conftest import full_record
from serving import run_server
from sinkthread import SinkThread

NDJSON = "application/x-ndjson"


def body(*records) -> bytes:
    return b"\n".join(msgspec.json.encode(r) for r in records)


def run(scenario, sink: OtlpSink | None = None, token: str | None = None, **pipeline):
    return run_server(scenario, sink=sink, token=token, pipeline=pipeline)


def test_one_record_an_array_and_ndjson_are_taken_and_delivered():
    records = [full_record(i) for i in range(6)]

    async def scenario(server, session, sink):
        answers = []
        for payload, content_type in ((msgspec.json.encode(records[0]), "application/json"),
                                      (msgspec.json.encode(records[1:3]), "application/json"),
                                      (body(*records[3:]), NDJSON)):
            async with session.post("/v1/generations", data=payload, headers={"Content-Type": content_type}) as r:
                answers.append((r.status, await r.json()))
        await sink.wait_for(lambda s: len(s.generation_ids()) == 6)
        return answers, sorted(sink.generation_ids()), sink.problems

    answers, ids, problems = run(scenario)
    assert answers == [(202, {"accepted": 1, "rejected": 0, "errors": []}),
                       (202, {"accepted": 2, "rejected": 0, "errors": []}),
                       (202, {"accepted": 3, "rejected": 0, "errors": []})]
    assert ids == sorted(r.id for r in records) and problems == []


def test_bad_records_are_named_by_position_and_the_good_ones_still_go():
    good = [full_record(i) for i in range(3)]
    lines = [msgspec.json.encode(good[0]), b'{"id": "x", "model": "m"}', msgspec.json.encode(good[1]),
             b'{"id": "y", "model": "m", "start_time_ns": 5, "end_time_ns": 1}', msgspec.json.encode(good[2])]

    async def scenario(server, session, sink):
        async with session.post("/v1/generations", data=b"\n".join(lines), headers={"Content-Type": NDJSON}) as r:
            answer = (r.status, await r.json())
        await sink.wait_for(lambda s: len(s.generation_ids()) == 3)
        return answer, sorted(sink.generation_ids())

    (status, answer), ids = run(scenario)
    assert status == 202 and answer["accepted"] == 3 and answer["rejected"] == 2
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [(1, "start_time_ns"), (3, "end_time_ns")]
    assert ids == sorted(r.id for r in good)


def test_gzip_bodies_limits_and_content_types():
    records = [full_record(i) for i in range(6)]

    async def scenario(server, session, sink):
        out = {}

        async def post(name, data, **headers):
            async with session.post("/v1/generations", data=data, headers={"Content-Type": NDJSON, **headers}) as r:
                out[name] = (r.status, await r.json())

        await post("gzip", gzip.compress(body(*records[:4])), **{"Content-Encoding": "gzip"})
        # two gzip members, as pigz or a writer appending to a .gz makes: both are the body, none ignored
        await post("members", gzip.compress(body(*records[4:5]) + b"\n") + gzip.compress(body(*records[5:])),
                   **{"Content-Encoding": "gzip"})
        # a bomb in the second member is stopped at the limit too
        await post("member_bomb", gzip.compress(body(records[0])) + gzip.compress(b" " * (server.max_body_bytes * 4)),
                   **{"Content-Encoding": "gzip"})
        await post("deflate_trailer", zlib.compress(body(records[0])) + b"trailing", **{"Content-Encoding": "deflate"})
        await post("too_large", b" " * (server.max_body_bytes + 1))
        # A small body that inflates past the limit: stopped at the limit, not held in memory.
        await post("bomb", gzip.compress(b" " * (server.max_body_bytes * 4)), **{"Content-Encoding": "gzip"})
        await post("corrupt_gzip", b"\x1f\x8b\x08\x00garbage", **{"Content-Encoding": "gzip"})
        await post("brotli", body(*records), **{"Content-Encoding": "br"})
        await post("csv", b"a,b", **{"Content-Type": "text/csv"})
        await post("malformed", b"[{", **{"Content-Type": "application/json"})
        await post("empty", b" \n", **{"Content-Type": "application/json"})
        await sink.wait_for(lambda s: len(s.generation_ids()) == 6)
        return out

    out = run(scenario)
    assert out["gzip"] == (202, {"accepted": 4, "rejected": 0, "errors": []})
    assert out["members"] == (202, {"accepted": 2, "rejected": 0, "errors": []})
    assert out["too_large"][0] == 413 and out["bomb"][0] == 413 and out["member_bomb"][0] == 413
    assert out["deflate_trailer"][0] == 400 and "after the end" in out["deflate_trailer"][1]["error"]
    assert out["corrupt_gzip"][0] == 400
    assert out["brotli"][0] == 415 and "content encoding 'br'" in out["brotli"][1]["error"]
    assert out["csv"][0] == 415 and "text/csv" in out["csv"][1]["error"]
    assert out["malformed"][0] == 400 and out["malformed"][1]["errors"][0]["field"] == "<input>"
    assert out["empty"][0] == 400 and "empty body" in out["empty"][1]["error"]


def test_bodies_in_pieces_and_of_every_size_through_one_pooled_buffer_arrive_whole():
    """Chunked bodies in pieces of every size (one byte, odd sizes, empty chunks), and bodies that shrink
    and grow through the same pooled receive buffer: each record arrives as sent, none from an earlier body."""
    # each record's content its own, of its own length (and not ASCII): a byte out of place shows
    records = [full_record(i, completion=f"answer {i}; " * (i % 50 + 1),
                           messages=[{"role": "user", "content": f"question é✓ {i}\n" * (i % 30 + 1)}])
               for i in range(400)]

    def pieces(data: bytes, sizes):
        async def gen():
            at, k = 0, 0
            while at < len(data):
                size = sizes[k % len(sizes)]
                yield data[at:at + size]
                if k % 7 == 3:
                    yield b""  # aiohttp skips an empty piece; the chunk boundaries move
                at, k = at + size, k + 1
        return gen()

    async def scenario(server, session, sink):
        answers, sent = [], []
        plan = [(0, 100, None), (100, 103, (1, 2, 3)), (103, 360, (4093, 1, 65536)), (360, 361, None),
                (361, 400, (7, 70_000))]
        for start, stop, sizes in plan:
            data = body(*records[start:stop])
            payload = data if sizes is None else pieces(data, sizes)
            async with session.post("/v1/generations", data=payload, headers={"Content-Type": NDJSON}) as r:
                answers.append((r.status, (await r.json())["accepted"]))
            sent += [r.id for r in records[start:stop]]
        # a gzip body in pieces: read by the other path (joined, then inflated)
        async with session.post("/v1/generations", data=pieces(gzip.compress(body(records[0])), (5, 9)),
                                headers={"Content-Type": NDJSON, "Content-Encoding": "gzip"}) as r:
            answers.append((r.status, (await r.json())["accepted"]))
        await sink.wait_for(lambda s: len(s.generation_ids()) == 401)
        kept = len(server.buffers._free)
        got = {s["attributes"]["gen_ai.response.id"]: s["attributes"] for r in sink.received for s in r.spans
               if "gen_ai.response.id" in s["attributes"]}
        return answers, sink.generation_ids(), sent, kept, sink.problems, got

    answers, ids, sent, kept, problems, got = run(scenario)
    assert answers == [(202, 100), (202, 3), (202, 257), (202, 1), (202, 39), (202, 1)]
    assert sorted(ids) == sorted(sent + [records[0].id]) and problems == []
    expected = {s["attributes"]["gen_ai.response.id"]: s["attributes"]
                for s in decode_otlp(bytes(encode_traces(records, format="protobuf")), PROTOBUF)
                if "gen_ai.response.id" in s["attributes"]}
    assert got == expected  # every record's content as sent: no byte of another body or another record
    assert kept == 1  # one buffer served every request, one after another


def test_a_body_sent_in_pieces_past_the_limit_is_refused_as_it_arrives():
    """Without a Content-Length, the limit is counted over the chunks read: 413 and the connection closed,
    plain (into the pooled buffer) and gzip (joined, before inflating)."""
    def pieces(total: int):
        async def gen():
            for _ in range(total // 10_000):
                yield b" " * 10_000
        return gen()

    async def scenario(server, session, sink):
        out = []
        for headers in ({}, {"Content-Encoding": "gzip"}):
            async with session.post("/v1/generations", data=pieces(200_000),
                                    headers={"Content-Type": NDJSON, **headers}) as r:
                out.append((r.status, (await r.json())["error"], r.headers.get("Connection")))
        return out

    out = run_server(scenario, server={"max_body_bytes": 100_000})
    assert out == [(413, "body over 100000 bytes", "close")] * 2


def test_a_chunk_read_before_its_end_arrived_does_not_end_the_body():
    """aiohttp's reader answers (b"", True) when a chunk it already handed out ends: not the body's end."""
    from aiohttp.streams import StreamReader

    from spancast.server_body import _chunks

    class Protocol:  # what the reader calls back to pause and resume the socket
        connected = True

        def pause_reading(self, **_):
            pass

        def resume_reading(self, **_):
            pass

    async def main():
        reader = StreamReader(Protocol(), 2**16, loop=asyncio.get_running_loop())
        chunks = _chunks(type("Request", (), {"content": reader})(), 100)
        reader.begin_http_chunk_receiving()
        reader.feed_data(b"abcd")
        first = await anext(chunks)  # half of a chunk, read before its end arrives
        reader.end_http_chunk_receiving()
        reader.begin_http_chunk_receiving()
        reader.feed_data(b"ef")
        reader.end_http_chunk_receiving()
        reader.feed_eof()
        return [first] + [chunk async for chunk in chunks]

    assert asyncio.run(main()) == [b"abcd", b"ef"]


def test_a_token_is_required_when_configured():
    token = "s3cret-token-value"

    async def scenario(server, session, sink):
        statuses = []
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {token}"}):
            async with session.post("/v1/generations", data=msgspec.json.encode(full_record()),
                                    headers={"Content-Type": "application/json", **headers}) as r:
                statuses.append((r.status, r.headers.get("WWW-Authenticate")))
        return statuses, repr(server)

    statuses, shown = run(scenario, token=token)
    assert statuses == [(401, 'Bearer realm="spancast"'), (401, 'Bearer realm="spancast"'), (202, None)]
    assert token not in shown and "auth=on" in shown


def test_listening_beyond_loopback_without_a_token_is_refused(monkeypatch):
    monkeypatch.delenv("SPANCAST_TOKEN", raising=False)
    config = parse_config({"server": {"host": "0.0.0.0"}})
    with pytest.raises(PermissionError, match="without a token"):
        Server(config)
    assert Server(config, token="t").host == "0.0.0.0"  # with one it may
    monkeypatch.setenv("SPANCAST_TOKEN", "from-env")
    assert Server(config)._expected == b"Bearer from-env"


def test_a_full_intake_answers_503_with_retry_after():
    """A stalled destination and a small memory cap fill the intake; the server says so instead of dropping."""
    async def scenario(server, session, sink):
        payload = body(*(full_record(i) for i in range(50)))
        for _ in range(2000):
            async with session.post("/v1/generations", data=payload, headers={"Content-Type": NDJSON}) as r:
                if r.status == 503:
                    return r.headers.get("Retry-After"), await r.json(), server.refused
                assert r.status == 202
        raise AssertionError("the intake never filled")

    retry_after, answer, refused = run(scenario, sink=OtlpSink(default=Reply.stall()),
                                       max_memory_bytes=256 * 1024, intake_max_records=100)
    assert retry_after == "1" and answer["accepted"] == 0 and answer["rejected"] == 50
    assert {e["error"] for e in answer["errors"]} == {"queue full; retry later"} and refused >= 50


def test_probes_and_metrics():
    async def scenario(server, session, sink):
        async with session.get("/healthz") as r:
            health = r.status
        async with session.get("/readyz") as r:
            ready_before = (r.status, await r.json())
        async with session.post("/v1/generations", data=body(full_record(1), full_record(2)),
                                headers={"Content-Type": NDJSON}) as r:
            assert r.status == 202
        await sink.wait_for(lambda s: len(s.replies) >= 3)  # the destination has failed three requests in a row
        deadline = asyncio.get_running_loop().time() + 10
        while server.readiness()[0] and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)  # the sender records the failure after the sink has answered
        async with session.get("/readyz") as r:
            ready_after = (r.status, await r.json())
        async with session.get("/metrics") as r:
            metrics = (r.status, r.headers["Content-Type"], await r.text())
        return health, ready_before, ready_after, metrics

    health, before, after, (status, content_type, text) = run(scenario, sink=OtlpSink(default=Reply.error(503)))
    assert health == 200
    assert before == (200, {"ready": True, "reason": "ok"})
    assert after[0] == 503 and "every destination failed" in after[1]["reason"]
    assert status == 200 and content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    received = {s.labels["destination"]: s.value for s in families["spancast_records_received"].samples
                if s.name.endswith("_total")}
    assert received == {"sink": 2.0}


SERVE_CONFIG = """
[pipeline]
flush_interval_s = 60          # nothing leaves before the drain: the drain must send it
shutdown_timeout_s = {deadline}
[[destinations]]
type = "otel-collector"
name = "sink"
endpoint = "{endpoint}"
"""


def start_serve(tmp_path: Path, endpoint: str, deadline_s: float) -> tuple[subprocess.Popen, str]:
    config = tmp_path / "spancast.toml"
    config.write_text(SERVE_CONFIG.format(endpoint=endpoint, deadline=deadline_s))
    proc = subprocess.Popen([sys.executable, "-m", "spancast.cli", "serve", "--config", str(config), "--port", "0"],
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    for line in proc.stderr:  # the announcement names the port it got
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            return proc, found.group(1)
    raise AssertionError(f"serve exited with {proc.wait()} before announcing itself")


def post(url: str, records) -> int:
    async def main():
        async with aiohttp.ClientSession() as s, s.post(url + "/v1/generations", data=body(*records),
                                                        headers={"Content-Type": NDJSON}) as r:
            return r.status

    return asyncio.run(main())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_what_is_queued_then_exits_0(tmp_path, signum):
    records = [full_record(i) for i in range(20)]
    with SinkThread(OtlpSink()) as sink:
        proc, url = start_serve(tmp_path, sink.url, deadline_s=20)
        assert post(url, records) == 202
        assert sink.received == []  # held by the 60 s flush interval
        proc.send_signal(signum)
        assert proc.wait(30) == 0
        assert sorted(sink.generation_ids()) == sorted(r.id for r in records)


def test_a_second_signal_exits_at_once(tmp_path):
    with SinkThread(OtlpSink(default=Reply.stall())) as sink:
        proc, url = start_serve(tmp_path, sink.url, deadline_s=120)  # a drain that would take two minutes
        assert post(url, [full_record()]) == 202
        proc.send_signal(signal.SIGTERM)
        for line in proc.stderr:
            if "draining" in line:
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM


def test_the_cli_refuses_a_public_address_without_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SPANCAST_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "spancast.cli", "serve", "--host", "0.0.0.0", "--port", "0"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 2 and "without a token" in done.stderr
