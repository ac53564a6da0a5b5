"""The sender's stages on their own: each transport behind one interface, and the 413 split step."""

from __future__ import annotations

import asyncio
import socket

import pytest

from conftest import full_record
from spancast.destinations import make_destination
from spancast.pipeline.batcher import Batch
from spancast.pipeline.files import FileTransport
from spancast.pipeline.redis_transport import RedisTransport
from spancast.pipeline.retry import Action
from spancast.pipeline.split import split
from spancast.pipeline.stats import DestinationStats
from spancast.pipeline.sender import make_transport
from spancast.pipeline.transport import Sent, Transport
from spancast.pipeline.transport_http import HttpTransport
from spancast.testing.sink import OtlpSink, Reply


def collector(url, **extra):
    return make_destination({"type": "otel-collector", "endpoint": url, **extra})


def test_each_destination_gets_the_transport_it_names(tmp_path):
    cases = [
        (collector("http://127.0.0.1:9/v1/traces"), HttpTransport),
        (make_destination({"type": "file", "directory": str(tmp_path)}), FileTransport),
        (make_destination({"type": "redis", "url": "redis://127.0.0.1:9/0"}), RedisTransport),
    ]
    for destination, cls in cases:
        transport = make_transport(destination, 4)
        assert type(transport) is cls and isinstance(transport, Transport)


def _request(destination, records):
    encoder = destination.new_encoder()
    encoder.extend(records)
    return destination.wire_request(destination.payloads(encoder.finish())[0])


def test_http_carries_a_request_and_the_destination_judges_the_answer():
    async def main():
        async with OtlpSink() as sink:
            dest = collector(sink.url)
            transport = make_transport(dest, 2)
            await transport.start()
            try:
                ok = await transport.send(_request(dest, [full_record(1)]))
                sink.script(Reply.error(400, body=b"bad span: token=" + b"x" * 300))
                refused = await transport.send(_request(dest, [full_record(2)]))
            finally:
                await transport.close()
            return sink, ok, refused

    sink, ok, refused = asyncio.run(main())
    assert sink.generation_ids() == [full_record(1).id]
    assert (ok.decision.action, ok.counted_as) == (Action.DELIVERED, "ok")
    assert (refused.decision.action, refused.counted_as) == (Action.PERMANENT, "permanent")
    assert refused.decision.reason.startswith("bad span") and len(refused.decision.reason) <= 200  # an excerpt
    assert repr(ok) == "<Sent ok <Decision delivered status=200>>"


def test_http_without_an_answer_is_a_retry_counted_as_error_or_timeout():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main(url, **extra):
        dest = collector(url, **extra)
        transport = HttpTransport(dest, 1)
        await transport.start()
        try:
            return await transport.send(_request(dest, [full_record(1)]))
        finally:
            await transport.close()

    refused = asyncio.run(main(f"http://127.0.0.1:{port}/v1/traces"))
    assert (refused.decision.action, refused.counted_as) == (Action.RETRY, "error")
    assert refused.decision.reason == f"connection refused by 127.0.0.1:{port}"

    async def stalled():
        async with OtlpSink() as sink:
            sink.script(Reply.stall(2))
            return await main(sink.url, timeout_s=0.2)

    timed_out = asyncio.run(stalled())
    assert (timed_out.decision.action, timed_out.decision.overload, timed_out.counted_as) == (Action.RETRY, True, "timeout")


def test_file_appends_each_request_and_a_failed_append_is_retried(tmp_path):
    dest = make_destination({"type": "file", "directory": str(tmp_path / "out")})

    async def main(transport):
        await transport.start()
        try:
            return await transport.send(_request(dest, [full_record(1)]))
        finally:
            await transport.close()

    sent = asyncio.run(main(FileTransport(dest)))
    assert sent == Sent(sent.decision) and sent.decision.action is Action.DELIVERED
    assert full_record(1).id.encode() in dest.path.read_bytes()
    (tmp_path / "blocked").write_text("a file where the directory should be")
    blocked = make_destination({"type": "file", "directory": str(tmp_path / "blocked")})
    failed = asyncio.run(main(FileTransport(blocked)))
    assert (failed.decision.action, failed.counted_as) == (Action.RETRY, "error")
    assert failed.decision.reason.startswith("cannot append to ")


def _batch(dest, n, part=0, positions=None):
    records = [full_record(i) for i in range(n)]
    encoder = dest.new_encoder()
    encoder.extend(records)
    return Batch(encoder.finish(), records, "records", 1.5, positions=positions, part=part)


def test_split_halves_a_batch_from_its_records_starting_at_the_refused_request():
    dest = collector("http://127.0.0.1:9/v1/traces")
    stats = DestinationStats(dest.name)
    batch = _batch(dest, 5, part=1, positions=[10, 11, 12, 13, 14])
    first, second = split(batch, dest, stats)
    assert [r.id for r in first.items] == [r.id for r in batch.items[:2]]
    assert [r.id for r in second.items] == [r.id for r in batch.items[2:]]
    assert (first.positions, second.positions) == ([10, 11], [12, 13, 14])
    assert first.part == second.part == 1 and first.opened_at == 1.5 and not batch.settles
    assert stats.batches["split"] == 2 and not stats.dropped


def test_split_drops_a_lone_record():
    dest = collector("http://127.0.0.1:9/v1/traces")
    stats = DestinationStats(dest.name)
    assert split(_batch(dest, 1), dest, stats) == []
    assert dict(stats.dropped) == {"too_large": 1} and stats.last_error == "HTTP 413 for a single record"


@pytest.mark.parametrize("kind", ["http", "file", "redis"])
def test_transport_reprs_name_where_they_send(kind, tmp_path):
    dest = {"http": lambda: collector("http://127.0.0.1:9/v1/traces", name="c"),
            "file": lambda: make_destination({"type": "file", "directory": str(tmp_path)}),
            "redis": lambda: make_destination({"type": "redis", "url": "redis://127.0.0.1:9/0"})}[kind]()
    shown = repr(make_transport(dest, 3))
    assert shown.startswith(f"<{ {'http': 'Http', 'file': 'File', 'redis': 'Redis'}[kind]}Transport ")
    if kind == "http":
        assert shown == "<HttpTransport c closed max_connections=3>"
