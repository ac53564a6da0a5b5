"""The incremental encoder the batcher uses: exact sizes, atomic appends, reuse."""

from __future__ import annotations

import pytest

from conftest import NATIVE_EXPECTED, attempts_record, full_record
from otlp import parse, spans
from spancast import EncodeError, Generation, ProviderAttempt


def test_size_is_exact_after_every_append(impl, fmt):
    enc = impl.TraceEncoder(format=fmt)
    recs = [full_record(i) for i in range(20)] + [attempts_record()]
    sizes = []
    for rec in recs:
        before = enc.size
        added = enc.append(rec)
        assert enc.size == before + added
        sizes.append(enc.size)
    data = enc.finish()
    assert len(data) == sizes[-1]
    # Every prefix of the batch, encoded on its own, has the size the encoder announced for it.
    for n in (1, 2, 7, len(recs)):
        assert len(impl.encode_traces(recs[:n], format=fmt)) == sizes[n - 1]
    # the shared trace's root once; the attempts record hangs under its caller's span (no root of ours)
    assert len(spans(parse(data, fmt))) == 20 + 5 + 1


def test_size_crosses_varint_boundaries(impl):
    # Lengths around 127/128 and 16383/16384 change the width of the envelope's length prefixes.
    enc = impl.TraceEncoder(format="protobuf")
    for n in range(0, 40000, 97):
        rec = full_record(n, completion="z" * n, messages=None, trace=None, model_parameters=None)
        enc.append(rec)
        expected = enc.size
        data = impl.encode_traces([full_record(m, completion="z" * m, messages=None, trace=None, model_parameters=None) for m in range(0, n + 1, 97)])
        assert len(data) == expected
        if n > 2000:
            break
    assert parse(enc.finish(), "protobuf")


def test_a_failing_record_adds_nothing(impl, fmt):
    enc = impl.TraceEncoder(format=fmt)
    good = [full_record(1), full_record(2)]
    enc.append(good[0])
    size = enc.size
    bad = full_record(3, trace={"custom": {"when": object()}})
    with pytest.raises(EncodeError) as info:
        enc.append(bad)
    assert info.value.field == "trace.custom"
    assert (enc.size, enc.records) == (size, 1)
    enc.append(good[1])
    assert enc.finish() == impl.encode_traces(good, format=fmt)


def test_failure_inside_a_later_span_rolls_back_the_earlier_ones(impl, fmt):
    enc = impl.TraceEncoder(format=fmt)
    enc.append(full_record(1))
    before = enc.size
    rec = attempts_record()
    rec.provider_attempts[2].provider = 42  # fails after the intermediate and generation spans were written
    with pytest.raises(EncodeError, match="provider_attempts.provider"):
        enc.append(rec)
    assert enc.size == before and enc.spans == 2  # full_record(1)'s trace root and generation
    assert enc.finish() == impl.encode_traces([full_record(1)], format=fmt)


def test_a_record_taken_out_again_leaves_its_traces_root_as_it_was(impl, fmt):
    # A failed record of a trace already in the request marks its root failed and widens it; when the record
    # cannot be encoded after all, or does not fit, the root is put back as it was.
    later = dict(status="error", error_message="boom", end_time_ns=1_732_000_009_000_000_000)
    bad = full_record(2, **later, provider_attempts=[ProviderAttempt(provider="x")])
    bad.provider_attempts[0].provider = 42
    enc = impl.TraceEncoder(format=fmt)
    enc.append(full_record(1))
    with pytest.raises(EncodeError):
        enc.append(bad)
    assert enc.finish() == impl.encode_traces([full_record(1)], format=fmt)
    enc.append(full_record(1))
    assert enc.append(full_record(2, **later, completion="x" * 10_000), max_bytes=enc.size + 100) == 0
    assert enc.finish() == impl.encode_traces([full_record(1)], format=fmt)
    both = impl.encode_traces([full_record(1), full_record(2, **later)], format=fmt)
    root = spans(parse(both, fmt))[0]
    assert root.status.code == 2 and root.end_time_unix_nano == later["end_time_ns"]


def test_finish_resets_and_the_encoder_is_reusable(impl, fmt):
    enc = impl.TraceEncoder(format=fmt)
    batch = [full_record(i) for i in range(5)]
    enc.extend(batch)
    first = enc.finish()
    assert (enc.records, enc.spans) == (0, 0)
    assert enc.size == len(impl.encode_traces([], format=fmt))
    enc.extend(batch)
    assert enc.finish() == first


def test_a_huge_batch_then_small_ones(impl):
    enc = impl.TraceEncoder()
    big = full_record(completion="q" * (20 << 20))
    enc.append(big)
    assert len(enc.finish()) > 20 << 20
    enc.append(full_record(1))
    assert enc.finish() == impl.encode_traces([full_record(1)])


def test_not_a_generation_is_an_error(impl):
    with pytest.raises(EncodeError) as info:
        impl.encode_traces([{"id": "x"}])
    assert info.value.field == "<record>"


def test_unknown_format_and_flavor(impl):
    with pytest.raises(ValueError, match="format"):
        impl.TraceEncoder(format="xml")
    with pytest.raises(ValueError, match="flavor"):
        impl.TraceEncoder(flavor="nope")


def test_repr_is_informative(impl):
    enc = impl.TraceEncoder(format="json", flavor="openinference")
    enc.append(Generation(id="g", start_time_ns=1, end_time_ns=2, model="m"))
    text = repr(enc)
    assert "format=json" in text and "flavor=openinference" in text and "records=1" in text
    assert f"bytes={enc.size}" in text


def fresh(impl, recs, **kw):
    enc = impl.TraceEncoder(**kw)
    enc.extend(recs)
    return enc.finish()


def test_encode_traces_reuses_encoders_without_mixing_configurations(impl):
    recs = [full_record(i) for i in range(4)]
    configs = [
        {"format": "protobuf"},
        {"format": "json"},
        {"format": "protobuf", "flavor": "openinference"},
        {"format": "json", "resource": {"service.name": "gw"}},
        {"format": "json", "resource": {"tags": ["a", "b"]}},  # unhashable: encoded without reuse
    ]
    for _ in range(3):
        for kw in configs:
            assert impl.encode_traces(recs, **kw) == fresh(impl, recs, **kw)
    with pytest.raises(EncodeError):
        impl.encode_traces([full_record(1), full_record(2, trace={"x": object()})])
    assert impl.encode_traces(recs) == fresh(impl, recs)  # the failed call left nothing behind


def test_encode_traces_from_many_threads(impl):
    import threading

    batches = [[full_record(t * 100 + i) for i in range(t + 1)] for t in range(4)]
    expected = [fresh(impl, b) for b in batches]
    failures = []

    def work(t):
        for _ in range(30):
            if impl.encode_traces(batches[t]) != expected[t]:
                failures.append(t)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []


def test_the_twins_never_share_cached_encoders(monkeypatch):
    from spancast.codec import _py, implementation

    recs = [full_record(i) for i in range(3)]
    used = []
    original = _py.TraceEncoder.extend
    monkeypatch.setattr(_py.TraceEncoder, "extend", lambda self, records: used.append(self) or original(self, records))
    for name in ("native", "python", "native", "python"):
        if name == "native" and not NATIVE_EXPECTED:
            continue
        implementation(name).encode_traces(recs)
    assert len(used) == 2 and all(isinstance(e, _py.TraceEncoder) for e in used)


def test_max_bytes_cuts_batches_at_the_exact_size(impl, fmt):
    recs = [full_record(i) for i in range(40)]
    limit = len(impl.encode_traces(recs[:7], format=fmt)) + 10  # room for 7 records, not 8
    enc = impl.TraceEncoder(format=fmt)
    batches, current = [], []
    for rec in recs:
        if enc.append(rec, max_bytes=limit) == 0:  # full: close this batch, start the next with it
            batches.append((current, enc.finish()))
            current = []
            assert enc.append(rec, max_bytes=limit) > 0
        current.append(rec)
    batches.append((current, enc.finish()))
    assert [len(b) for b, _ in batches] == [7] * 5 + [5]
    for batch, data in batches:
        assert len(data) <= limit and data == impl.encode_traces(batch, format=fmt)


def test_a_lone_record_is_added_whatever_its_size(impl):
    enc = impl.TraceEncoder()
    assert enc.append(full_record(completion="x" * 5000), max_bytes=100) > 100
    assert enc.append(full_record(1), max_bytes=100) == 0 and enc.records == 1


def test_finish_view_is_finish_without_the_copy(impl, fmt):
    recs = [full_record(i) for i in range(30)]
    enc = impl.TraceEncoder(format=fmt)
    enc.extend(recs)
    expected = enc.finish()
    for _ in range(3):  # the encoder goes on in another (pooled) buffer, batch after batch
        enc.extend(recs)
        body = enc.finish_view()
        assert body == expected and bytes(body) == expected and len(body) == len(expected)
        assert enc.records == 0 and enc.size == len(impl.TraceEncoder(format=fmt).finish())
        view = memoryview(body)
        assert view.readonly and view.tobytes() == expected
    assert impl.TraceEncoder(format=fmt).finish_view() == impl.TraceEncoder(format=fmt).finish()  # empty

