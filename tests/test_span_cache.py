"""Span sharing between destinations that render alike: every encoder of a group writes byte for byte
what it writes alone (its own ids, its own roots), whatever the batches, the order and the cache's bounds."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import attempts_record, full_record
from test_codec_twins import records as random_records
from otlp import parse_pb, spans
from spancast import EncodeError, Generation
from spancast.codec import FLAVORS, implementation
from spancast.codec.ids import id_salt

NATIVE, PYTHON = implementation("native"), implementation("python")

# Traces from a small pool, so that records share roots within a batch and across batches.
trace_shapes = st.sampled_from([
    None,
    {"trace_id": "t-1", "trace_name": "agent run"},
    {"trace_id": "t-1", "trace_name": "agent run", "span_name": "step"},
    {"trace_id": "t-2"},
    {"trace_id": "0123456789abcdef0123456789abcdef", "trace_name": "given"},
    {"trace_id": "0123456789abcdef0123456789abcdef", "parent_span_id": "caller-span"},
    {"trace_id": "t-3", "parent_span_id": "0123456789abcdef", "span_name": "child"},
    {"trace_name": "named only", "generation_name": "gen"},
    {"trace_id": "t-1", "trace_name": "agent run", "generation_name": "agent run"},
])


@st.composite
def record_lists(draw):
    recs = draw(st.lists(random_records(), min_size=1, max_size=8))
    out = []
    for r in recs:
        trace = draw(trace_shapes)
        out.append(msgspec.structs.replace(r, trace=dict(trace) if trace is not None else r.trace))
    # the same object twice in a row, as a caller that emits one record twice would
    if draw(st.booleans()):
        out.append(out[draw(st.integers(0, len(out) - 1))])
    return out


def feed(encoder, recs, cut: int, max_bytes: int) -> tuple[list[bytes], list]:
    """Every record through append_many in chunks of cut, requests closed at max_bytes: (requests, errors)."""
    bodies, errors, i = [], [], 0
    while i < len(recs):
        chunk = recs[i:i + cut]
        j = 0
        while j < len(chunk):
            failed: list = []
            j, full = encoder.append_many(chunk, j, 10_000, max_bytes, failed)
            errors += [(e.field, e.reason) for _, e in failed]
            if full is not None:
                bodies.append(encoder.finish())
        bodies.append(encoder.finish())
        i += cut
    return bodies, errors


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(recs=record_lists(), fmt=st.sampled_from(["protobuf", "json"]),
       flavor=st.sampled_from(sorted(FLAVORS)),
       members=st.lists(st.tuples(st.integers(1, 5), st.sampled_from([1024, 4096, 1 << 22])), min_size=2, max_size=4),
       cut=st.sampled_from([None, 60]))
def test_every_member_writes_what_it_writes_alone(recs, fmt, flavor, members, cut):
    caches: dict = {}
    shared, alone = [], []
    for k, _ in enumerate(members):
        kw = dict(format=fmt, flavor=flavor, id_salt=id_salt(f"dest-{k}"), resource={"service.name": f"svc-{k}"},
                  max_value_chars=cut)
        e = NATIVE.TraceEncoder(**kw)
        e.share_spans(caches)
        shared.append(e)
        alone.append(NATIVE.TraceEncoder(**kw))
    # members take the records in turns, each with its own chunking and byte limit
    for (chunk, max_bytes), e, ref in zip(members, shared, alone):
        assert feed(e, recs, chunk, max_bytes) == feed(ref, recs, chunk, max_bytes)
        assert feed(ref, recs, chunk, max_bytes) == feed(PYTHON.TraceEncoder(
            format=fmt, flavor=flavor, id_salt=ref.id_salt, resource={"service.name": f"svc-{shared.index(e)}"},
            max_value_chars=cut), recs, chunk, max_bytes)
    (cache,) = caches.values()
    assert cache.members == len(members) and cache.bytes <= cache.max_bytes


def test_members_share_the_rendering_and_keep_their_own_ids():
    caches: dict = {}
    a = NATIVE.TraceEncoder(id_salt=id_salt("a"))
    b = NATIVE.TraceEncoder(id_salt=id_salt("b"), resource={"service.name": "other"})
    cache = a.share_spans(caches)
    assert b.share_spans(caches) is cache and cache.members == 2
    recs = [full_record(i) for i in range(50)]
    a.extend(recs)
    b.extend(recs)
    assert (cache.hits, cache.misses) == (50, 50)  # b copied every record a rendered
    assert len(cache) == 0 and cache.bytes == 0  # each went once both had taken it
    from_a, from_b = spans(parse_pb(a.finish())), spans(parse_pb(b.finish()))
    assert [s.name for s in from_a] == [s.name for s in from_b]
    assert not {s.span_id for s in from_a} & {s.span_id for s in from_b}
    assert [s.attributes for s in from_a] == [s.attributes for s in from_b]


def test_only_encoders_that_render_alike_share():
    caches: dict = {}
    group = [NATIVE.TraceEncoder(format="protobuf"), NATIVE.TraceEncoder(format="json"),
             NATIVE.TraceEncoder(flavor="openinference"), NATIVE.TraceEncoder(max_value_chars=100),
             NATIVE.TraceEncoder(resource={"service.name": "x"}, id_salt=5)]
    made = [e.share_spans(caches) for e in group]
    assert made[0] is made[4]  # resource and salt are not in the spans' bytes
    assert len({id(c) for c in made}) == 4
    assert "members=2" in repr(made[0]) and "flavor=gen_ai" in repr(made[0])


def test_a_root_the_keeper_did_not_write_is_rendered():
    """The keeper's request held the trace's root already; a member whose request does not renders it."""
    caches: dict = {}
    first, second = (NATIVE.TraceEncoder(id_salt=s) for s in (1, 2))
    for e in (first, second):
        e.share_spans(caches)
    same_trace = [full_record(i, trace={"trace_id": "t", "trace_name": "run"}) for i in range(3)]
    first.extend(same_trace)  # one root, then two records that only widen it
    second.extend(same_trace[1:])  # its request starts at the second record: it needs the root
    ref = NATIVE.TraceEncoder(id_salt=2)
    ref.extend(same_trace[1:])
    assert second.finish() == ref.finish()
    assert len([s for s in spans(parse_pb(first.finish())) if s.name == "run"]) == 1


def test_media_is_still_checked_for_a_member_that_strips_it():
    """A keeper that keeps media did not check the record; a member that strips media checks it itself."""
    caches: dict = {}
    keeper, stripper = NATIVE.TraceEncoder(id_salt=1), NATIVE.TraceEncoder(id_salt=2)
    for e in (keeper, stripper):
        e.share_spans(caches)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 400}}
    rec = full_record(1, messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}])
    assert keeper.append_many([rec], 0, 10, 1 << 20, []) == (1, None)
    assert stripper.append_many([rec], 0, 10, 1 << 20, [], 0) == (0, "media")
    # the record a stripping member checked and found plain is not checked again by the next one
    plain = full_record(2)
    other = NATIVE.TraceEncoder(id_salt=3)
    other.share_spans(caches)
    assert stripper.append_many([plain], 0, 10, 1 << 20, [], 0) == (1, None)
    assert other.append_many([plain], 0, 10, 1 << 20, [], 0) == (1, None)


def test_a_record_that_cannot_be_encoded_is_refused_by_every_member():
    caches: dict = {}
    group = [NATIVE.TraceEncoder(id_salt=s) for s in (1, 2, 3)]
    for e in group:
        e.share_spans(caches)
    recs = [Generation(id="g", start_time_ns=0, end_time_ns=0, model="m", prompt_tokens=2**70), full_record(1)]
    for e in group:
        errors: list = []
        assert e.append_many(recs, 0, 10, 1 << 20, errors)[0] == 2
        assert [(i, exc.field) for i, exc in errors] == [(0, "prompt_tokens")]
    cache = caches[("protobuf", "gen_ai", -1)]
    assert (cache.kept, cache.hits) == (1, 2)  # the good record, rendered once; the bad one never kept


def test_the_cache_stays_within_its_bytes():
    caches: dict = {}
    a, b = NATIVE.TraceEncoder(id_salt=1), NATIVE.TraceEncoder(id_salt=2)
    cache = a.share_spans(caches)
    b.share_spans(caches)
    recs = [full_record(i) for i in range(3000)]
    a.extend(recs)
    assert cache.bytes <= cache.max_bytes and len(cache) == 3000
    small = NATIVE.SpanCache("protobuf", a.plan, -1, 100_000)
    assert small.max_bytes == 100_000
    caches2 = {("protobuf", "gen_ai", -1): small}
    c, d = NATIVE.TraceEncoder(id_salt=1), NATIVE.TraceEncoder(id_salt=2)
    c.share_spans(caches2)
    d.share_spans(caches2)
    c.extend(recs[:200])
    assert small.bytes <= 100_000 and 0 < len(small) < 200 and small.evicted == 200 - len(small)
    d.extend(recs[:200])  # the evicted ones are rendered again: the same bytes
    ref = NATIVE.TraceEncoder(id_salt=2)
    ref.extend(recs[:200])
    assert d.finish() == ref.finish()
    small.clear()
    assert len(small) == 0 and small.bytes == 0


def test_attempts_and_errors_get_each_members_ids():
    caches: dict = {}
    recs = [attempts_record(), full_record(3, status="error", error_message="boom")]
    for fmt in ("protobuf", "json"):
        group = [NATIVE.TraceEncoder(format=fmt, id_salt=s) for s in (7, 8)]
        for e in group:
            e.share_spans(caches)
        for e in group:
            e.extend(recs)
            ref = NATIVE.TraceEncoder(format=fmt, id_salt=e.id_salt)
            ref.extend(recs)
            assert e.finish() == ref.finish()


def test_the_python_twin_renders_every_record_itself():
    caches: dict = {}
    e = PYTHON.TraceEncoder(id_salt=1)
    assert e.share_spans(caches) is None and caches == {}
    e.extend([full_record(1)])
    ref = NATIVE.TraceEncoder(id_salt=1)
    ref.extend([full_record(1)])
    assert e.finish() == ref.finish()


def test_not_a_generation_is_still_an_error_for_a_member():
    caches: dict = {}
    e = NATIVE.TraceEncoder()
    e.share_spans(caches)
    with pytest.raises(EncodeError):
        e.append({"id": "x"})


def test_a_broadcast_to_alike_destinations_renders_each_record_once_and_sends_each_its_own_ids():
    """Three OTLP destinations (one with its own resource, one that keeps media) and a privacy-mode one:
    the first three share spans, the privacy one renders its own; each receives, request by request,
    what its own encoder would write alone."""
    from sinkthread import SinkThread
    from spancast import Broadcaster
    from spancast.testing.sink import OtlpSink

    recs = [full_record(i, trace={"trace_id": f"t-{i // 3}", "trace_name": "run"}) for i in range(300)]
    sinks = [OtlpSink() for _ in range(4)]
    with SinkThread(sinks[0]) as a, SinkThread(sinks[1]) as b, SinkThread(sinks[2]) as c, SinkThread(sinks[3]) as d:
        dests = [{"type": "otel-collector", "name": "a", "endpoint": a.url},
                 {"type": "otel-collector", "name": "b", "endpoint": b.url, "resource": {"service.name": "b"}},
                 {"type": "otel-collector", "name": "c", "endpoint": c.url, "keep_media": True},
                 {"type": "otel-collector", "name": "d", "endpoint": d.url, "privacy_mode": True}]
        with Broadcaster(dests, max_batch_records=64) as bc:
            assert all(bc.emit(r) for r in recs)
            assert bc.flush(10)
            (cache,) = bc.span_caches.values()
            stats = bc.stats()
            destinations = {x.name: x for x in bc.destinations}
    assert cache.members == 3 and cache.misses >= 300 and cache.hits >= 550  # ~2 of 3 lanes copied each record
    for sink, name in zip(sinks, "abcd"):
        assert stats["destinations"][name]["delivered"] == 300
        got = [r.body for r in sink.received]
        encoder = destinations[name].new_encoder()
        shown = [s for r in sink.received for s in r.spans]
        assert len({s["span_id"] for s in shown}) == 300 + 100  # 100 traces' roots (again in a request that cuts one)
        if name == "d":  # privacy mode: its own rendering
            continue
        by_id = {r.id: r for r in recs}
        want = []
        for received in sink.received:  # each request as its records alone make it (requests may arrive out of order)
            encoder.extend([by_id[g] for g in received.generation_ids()])
            want.append(encoder.finish())
        assert got == want, name
    ids = [{s["span_id"] for r in sink.received for s in r.spans} for sink in sinks]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_which_vendor_destinations_share_as_the_readme_says():
    """README: gen_ai protobuf presets share with a Collector, Phoenix with Arize; New Relic (a value cut) apart."""
    from conftest import load_contract
    from spancast.destinations import make_destination

    caches: dict = {}
    got = {}
    for kind in ("otel-collector", "grafana", "sentry", "braintrust", "opik", "phoenix", "arize", "newrelic"):
        destination = make_destination(load_contract(kind).config("https://backend.example", name=kind))
        got[kind] = destination.new_encoder().share_spans(caches)
    gen_ai = {got[k] for k in ("otel-collector", "grafana", "sentry", "braintrust", "opik")}
    assert len(gen_ai) == 1 and got["phoenix"] is got["arize"]
    assert got["newrelic"] not in gen_ai and got["newrelic"].members == 1


def test_an_entry_goes_with_its_record_and_never_keeps_it_alive():
    """A record only one member reads (a lane's own copy, stripped of media; a record replayed for one
    destination) is kept for the others until it dies, not until newer records push it out."""
    import gc
    import weakref

    caches: dict = {}
    a, b = NATIVE.TraceEncoder(id_salt=1), NATIVE.TraceEncoder(id_salt=2)
    cache = a.share_spans(caches)
    b.share_spans(caches)
    record = full_record(1, messages=[{"role": "user", "content": "x" * 100_000}])
    alive = weakref.ref(record)
    a.append(record)
    assert len(cache) == 1 and cache.bytes > 100_000
    del record
    gc.collect()
    assert alive() is None  # the cache did not keep it
    assert (len(cache), cache.bytes, cache.dropped) == (0, 0, 1)
    a.finish()


def test_a_broadcast_leaves_nothing_kept_once_its_records_are_sent():
    """Records with media (each lane strips its own copy) and without: after flush(), no span bytes are held
    and the memory the pipeline reports is back to nothing."""
    from sinkthread import SinkThread
    from spancast import Broadcaster
    from spancast.testing.sink import OtlpSink

    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 400}}
    recs = [full_record(i, messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}])
            for i in range(200)] + [full_record(1000 + i) for i in range(200)]
    with SinkThread(OtlpSink()) as a, SinkThread(OtlpSink()) as b:
        dests = [{"type": "otel-collector", "name": "a", "endpoint": a.url},
                 {"type": "otel-collector", "name": "b", "endpoint": b.url}]
        with Broadcaster(dests, max_batch_records=64) as bc:
            for r in recs:
                assert bc.emit(r)
            del r
            assert bc.flush(10)
            (cache,) = bc.span_caches.values()
            assert cache.hits == 200  # the records without media: one lane rendered each, the other copied it
            del recs
            assert (len(cache), cache.bytes, bc.memory_bytes()) == (0, 0, 0)
