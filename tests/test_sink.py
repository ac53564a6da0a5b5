"""The local OTLP sink checks requests as a backend would and answers as scripted."""

from __future__ import annotations

import asyncio
import gzip

import aiohttp
import pytest
import zstandard
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from conftest import full_record
from spancast.codec import encode_traces
from spancast.testing.sink import PROTOBUF, Expect, OtlpSink, Reply

AUTH = {"Authorization": "Bearer secret-token"}


def run(coro):
    return asyncio.run(coro)


async def post(sink, body, *, content_type=PROTOBUF, headers=None, path=None, timeout_s=5.0):
    url = sink.url if path is None else f"http://127.0.0.1:{sink.port}{path}"
    hdrs = {"Content-Type": content_type, **AUTH, **(headers or {})}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as s:
        async with s.post(url, data=body, headers=hdrs) as r:
            return r.status, dict(r.headers), await r.read()


def test_accepts_and_decodes_both_encodings_and_compressions():
    recs = [full_record(i) for i in range(3)]

    async def main():
        async with OtlpSink(Expect(headers=AUTH)) as sink:
            pb = encode_traces(recs)
            js = encode_traces(recs, format="json")
            assert (await post(sink, pb))[0] == 200
            assert (await post(sink, js, content_type="application/json"))[0] == 200
            assert (await post(sink, gzip.compress(pb), headers={"Content-Encoding": "gzip"}))[0] == 200
            z = zstandard.ZstdCompressor().compress(js)
            assert (await post(sink, z, content_type="application/json", headers={"Content-Encoding": "zstd"}))[0] == 200
            return sink

    sink = run(main())
    assert sink.problems == []
    assert sink.generation_ids() == [r.id for r in recs] * 4
    assert [r.encoding for r in sink.received] == [None, None, "gzip", "zstd"]
    assert sink.received[0].spans[0]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "kwargs, status",
    [
        ({"path": "/v1/logs"}, 404),
        ({"headers": {"Authorization": "Bearer wrong"}}, 401),
        ({"content_type": "text/plain"}, 415),
        ({"headers": {"Content-Encoding": "br"}}, 415),
        ({"body": b"\xff\x00 not protobuf"}, 400),
        ({"body": b"{not json", "content_type": "application/json"}, 400),
    ],
)
def test_refuses_what_a_backend_refuses(kwargs, status):
    body = kwargs.pop("body", encode_traces([full_record()]))

    async def main():
        async with OtlpSink(Expect(headers=AUTH)) as sink:
            got = await post(sink, body, **kwargs)
            return sink, got

    sink, got = run(main())
    assert got[0] == status and sink.received == [] and [p[0] for p in sink.problems] == [status]


def test_scripted_answers_then_the_default():
    body = encode_traces([full_record()])

    async def main():
        async with OtlpSink() as sink:
            sink.script(Reply.error(429, retry_after_s=2), Reply.error(503), Reply.partial(1, "bad span"))
            first = await post(sink, body)
            second = await post(sink, body)
            third = await post(sink, body)
            fourth = await post(sink, body)
            return sink, first, second, third, fourth

    sink, first, second, third, fourth = run(main())
    assert (first[0], first[1].get("Retry-After")) == (429, "2")
    assert second[0] == 503
    assert third[0] == 200
    resp = ExportTraceServiceResponse()
    resp.ParseFromString(third[2])
    assert (resp.partial_success.rejected_spans, resp.partial_success.error_message) == (1, "bad span")
    assert fourth[0] == 200
    assert len(sink.received) == 2  # the partial success and the default OK; refusals by script are not kept
    assert "received=2" in repr(sink)


def test_reset_and_stall_look_like_a_broken_and_a_hung_backend():
    body = encode_traces([full_record()])

    async def main():
        async with OtlpSink() as sink:
            sink.script(Reply.reset(), Reply.stall())
            with pytest.raises(aiohttp.ClientError):
                await post(sink, body)
            with pytest.raises(asyncio.TimeoutError):
                await post(sink, body, timeout_s=0.2)
            assert (await post(sink, body))[0] == 200
            return sink

    sink = run(main())
    assert [r.kind for r in sink.replies] == ["reset", "stall", "status"]


def test_wait_for_a_condition():
    body = encode_traces([full_record(i) for i in range(2)])

    async def main():
        async with OtlpSink() as sink:
            sender = asyncio.create_task(post(sink, body))
            await sink.wait_for(lambda s: len(s.generation_ids()) == 2, timeout_s=5)
            await sender
            with pytest.raises(asyncio.TimeoutError):
                await sink.wait_for(lambda s: len(s.received) > 5, timeout_s=0.05)
            return sink.generation_ids()

    assert len(run(main())) == 2
