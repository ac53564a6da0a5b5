"""Destinations that send the same bytes with the same compression share one compressed copy (pipeline/bodyshare.py).

Shared only when the bytes are the same (checked whole, not trusted from the key), held within a byte
bound, let go once every member took it; and id_namespace, the setting that makes two destinations'
renderings the same bytes in the first place.
"""

from __future__ import annotations

import asyncio
import gzip

import pytest

from conftest import full_record
from spancast.errors import ConfigError
from spancast.pipeline.bodyshare import BodyShare
from spancast.pipeline.compress import Compressor


class Counting(Compressor):
    """gzip, counting the bodies it compresses; fail_first makes its first call raise."""

    __slots__ = ("calls", "fail_first")

    def __init__(self, fail_first: bool = False) -> None:
        super().__init__("gzip")
        self.calls, self.fail_first = 0, fail_first

    async def compress_async(self, data, executor=None):
        self.calls += 1
        await asyncio.sleep(0)  # another member may ask meanwhile, as when the work runs in a thread
        if self.fail_first and self.calls == 1:
            raise RuntimeError("compressor broke")
        return await super().compress_async(data, executor)


def body(seed: int = 0, size: int = 4000) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(size))


def test_the_members_after_the_first_take_its_copy_then_it_is_gone():
    comp = Counting()
    share = BodyShare(comp, members=3)
    records = [object(), object()]
    raw = body()

    async def run():
        first = await share.compress(raw, records)
        assert len(share) == 1 and share.bytes == len(raw) + len(first)
        second = await share.compress(bytes(bytearray(raw)), records)  # the same bytes, another object
        assert len(share) == 1
        third = await share.compress(bytes(bytearray(raw)), records)
        return first, second, third

    first, second, third = asyncio.run(run())
    assert first is second is third and gzip.decompress(first) == raw
    assert comp.calls == 1 and (share.hits, share.misses) == (2, 1)
    assert len(share) == 0 and share.bytes == 0  # every member took it


def test_other_bytes_under_the_same_key_are_compressed_apart():
    """Same length, same first bytes, same records, one byte different further on: no copy is taken."""
    comp = Counting()
    share = BodyShare(comp, members=2)
    records = [object()]
    raw = body(size=3000)
    other = bytearray(raw)
    other[2000] ^= 0xFF

    async def run():
        return await share.compress(raw, records), await share.compress(bytes(other), records)

    mine, theirs = asyncio.run(run())
    assert gzip.decompress(mine) == raw and gzip.decompress(theirs) == bytes(other)
    assert comp.calls == 2 and share.hits == 0


def test_a_member_arriving_while_the_first_compresses_waits_for_it():
    comp = Counting()
    share = BodyShare(comp, members=2)
    records = [object()]
    raw = body()

    async def run():
        return await asyncio.gather(share.compress(raw, records), share.compress(bytes(bytearray(raw)), records))

    a, b = asyncio.run(run())
    assert a is b and comp.calls == 1 and share.hits == 1 and len(share) == 0


def test_when_the_first_member_fails_the_waiting_one_compresses_its_own():
    comp = Counting(fail_first=True)
    share = BodyShare(comp, members=2)
    records = [object()]
    raw = body()

    async def run():
        return await asyncio.gather(share.compress(raw, records), share.compress(bytes(bytearray(raw)), records),
                                    return_exceptions=True)

    failed, wire = asyncio.run(run())
    assert isinstance(failed, RuntimeError) and gzip.decompress(wire) == raw
    assert comp.calls == 2 and share.hits == 0 and len(share) == 0 and share.bytes == 0


def test_entries_stay_within_the_byte_bound_oldest_out_first():
    comp = Counting()
    share = BodyShare(comp, members=2, max_bytes=10_000)
    records = [[object()] for _ in range(6)]
    raws = [body(seed=k) for k in range(6)]  # 4,000 bytes each, plus their compressed copies

    async def run():
        for raw, recs in zip(raws, records):
            await share.compress(raw, recs)
            assert share.bytes <= 10_000
        # the oldest were let go: a second member compresses those again; the newest is still shared
        await share.compress(raws[0], records[0])
        await share.compress(raws[-1], records[-1])

    asyncio.run(run())
    assert comp.calls == 7 and share.hits == 1


def test_a_lone_member_or_no_records_shares_nothing():
    comp = Counting()
    lone, share = BodyShare(comp, members=1), BodyShare(comp, members=3)
    raw = body()
    asyncio.run(lone.compress(raw, [object()]))
    asyncio.run(share.compress(raw, []))
    assert len(lone) == len(share) == 0 and comp.calls == 2


# ---------------------------------------------------------------- id_namespace


def test_id_namespace_gives_destinations_one_salt_and_never_a_names():
    from conftest import load_contract
    from spancast.destinations import make_destination

    url = "http://127.0.0.1:9/v1/traces"
    a = make_destination({"type": "otel-collector", "name": "a", "id_namespace": "team", "endpoint": url})
    b = make_destination(load_contract("grafana").config("http://127.0.0.1:9", name="b", id_namespace="team"))
    c = make_destination({"type": "otel-collector", "name": "team", "endpoint": url})  # a name equal to the namespace
    d = make_destination({"type": "otel-collector", "name": "d", "endpoint": url})
    assert a.id_salt == b.id_salt and len({a.id_salt, c.id_salt, d.id_salt}) == 3
    with pytest.raises(ConfigError) as caught:
        make_destination({"type": "otel-collector", "name": "e", "id_namespace": "", "endpoint": url})
    assert caught.value.path == "destination.id_namespace"


# ---------------------------------------------------------------- through a broadcaster, over HTTP


def test_alike_destinations_send_one_compressed_copy_and_the_others_their_own():
    """Three gzip destinations in one id namespace (one with another resource order, the same resource), a
    fourth with its own ids, a fifth in privacy mode: the three send, request by request, the same bytes
    (their lone encoder's, compressed once); the others send their own."""
    from sinkthread import SinkThread
    from spancast import Broadcaster
    from spancast.testing.sink import OtlpSink

    recs = [full_record(i, trace={"trace_id": f"t-{i // 3}", "trace_name": "run"}) for i in range(120)]
    sinks = [OtlpSink() for _ in range(5)]
    with SinkThread(sinks[0]) as a, SinkThread(sinks[1]) as b, SinkThread(sinks[2]) as c, \
            SinkThread(sinks[3]) as d, SinkThread(sinks[4]) as e:
        common = {"type": "otel-collector", "compression": "gzip"}
        dests = [{**common, "name": "a", "endpoint": a.url, "id_namespace": "team"},
                 {**common, "name": "b", "endpoint": b.url, "id_namespace": "team", "headers": {"X-Tenant": "b"}},
                 {**common, "name": "c", "endpoint": c.url, "id_namespace": "team"},
                 {**common, "name": "d", "endpoint": d.url},
                 {**common, "name": "e", "endpoint": e.url, "id_namespace": "team", "privacy_mode": True}]
        with Broadcaster(dests, max_batch_records=16, flush_interval_s=60) as bc:
            assert all(bc.emit(r) for r in recs)
            assert bc.flush(10)
            (share,) = bc.body_shares
            stats = bc.stats()
            destinations = {x.name: x for x in bc.destinations}
    batches = -(-len(recs) // 16)
    assert share.members == 3 and share.misses == batches and share.hits == 2 * batches
    assert len(share) == 0 and share.bytes == 0
    raws = {name: sorted(r.raw for r in sink.received) for name, sink in zip("abcde", sinks)}
    assert raws["a"] == raws["b"] == raws["c"] and len(raws["a"]) == batches
    assert not set(raws["d"]) & set(raws["a"]) and not set(raws["e"]) & set(raws["a"])
    by_id = {r.id: r for r in recs}
    for sink, name in zip(sinks, "abcd"):
        assert stats["destinations"][name]["delivered"] == len(recs)
        assert stats["destinations"][name]["delivered_bytes"] == sum(len(r.raw) for r in sink.received)
        encoder = destinations[name].new_encoder()
        for received in sink.received:  # each request is its lone encoder's bytes, gzip-compressed
            encoder.extend([by_id[g] for g in received.generation_ids()])
            assert received.body == encoder.finish() and received.encoding == "gzip"
    assert sinks[1].received[0].headers["X-Tenant"] == "b"  # headers are each destination's own
    spans = [{s["span_id"] for r in sink.received for s in r.spans} for sink in sinks]
    assert spans[0] == spans[1] == spans[2] and not spans[0] & spans[3]  # one namespace: the same ids


def test_a_member_whose_receiver_splits_a_batch_still_delivers_everything_once():
    """One of three alike gzip destinations answers 413 to its first request: its halves are rendered
    anew and compressed by it alone; it still delivers every record once, and the other two share on."""
    from sinkthread import SinkThread
    from spancast import Broadcaster
    from spancast.testing.sink import OtlpSink, Reply

    recs = [full_record(i) for i in range(64)]
    sinks = [OtlpSink() for _ in range(3)]
    with SinkThread(sinks[0]) as a, SinkThread(sinks[1]) as b, SinkThread(sinks[2]) as c:
        b.script(Reply.error(413))
        common = {"type": "otel-collector", "compression": "gzip", "id_namespace": "team"}
        dests = [{**common, "name": n, "endpoint": s.url} for n, s in zip("abc", (a, b, c))]
        with Broadcaster(dests, max_batch_records=16, flush_interval_s=60) as bc:
            assert all(bc.emit(r) for r in recs)
            assert bc.flush(10)
            (share,) = bc.body_shares
            stats = bc.stats()
    for name, sink in zip("abc", sinks):
        assert sorted(sink.generation_ids()) == sorted(r.id for r in recs), name
        assert stats["destinations"][name]["delivered"] == len(recs) and not stats["destinations"][name]["dropped"]
    assert len(sinks[1].received) == 5  # its first batch in two halves, then the other three
    assert sorted(r.raw for r in sinks[0].received) == sorted(r.raw for r in sinks[2].received)
    # each of the 4 batches compressed once and taken by the two others (b's first one before its receiver
    # refused it); b's two halves compressed by b alone, kept for a member that never comes (bounded; gone at close)
    assert (share.misses, share.hits) == (4 + 2, 2 * 4)


def test_only_destinations_whose_bodies_can_be_the_same_bytes_form_a_group():
    """Another resource, batch cut, compression level, privacy mode or id namespace: a group of its own."""
    from spancast import Broadcaster

    url = "http://127.0.0.1:9/v1/traces"
    base = {"type": "otel-collector", "endpoint": url, "compression": "gzip", "id_namespace": "team"}
    others = [{"resource": {"service.name": "other"}}, {"compression_level": 2}, {"privacy_mode": True},
              {"id_namespace": "elsewhere"}, {"compression": "none"}]
    dests = [{**base, "name": "a"}, {**base, "name": "b", "headers": {"X-Tenant": "b"}}]
    dests += [{**base, **extra, "name": f"o{k}"} for k, extra in enumerate(others)]
    with Broadcaster(dests) as bc:
        groups = [sorted(lane.destination.name for lane in bc.lanes if lane.sender.delivery.bodies is share)
                  for share in bc.body_shares]
    assert groups == [["a", "b"]]
