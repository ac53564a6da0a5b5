"""The native encoder's pooled bodies: a Body outlives its views, then its buffer serves the next batch."""

from __future__ import annotations

import gc

from conftest import full_record
from spancast.codec import implementation


def test_a_body_lives_as_long_as_any_view_of_it_then_its_buffer_is_reused():
    native = implementation("native")
    recs = [full_record(i) for i in range(10)]
    gc.collect()  # bodies earlier tests left in reference cycles go back to the pool now, not below
    held = []  # the pool (8 buffers at most) may be full after earlier tests: take some, to leave room
    for _ in range(16):
        if native.pooled_buffers() <= 4:
            break
        spare = native.TraceEncoder()
        spare.extend(recs[:1])
        held.append((spare, spare.finish_view()))  # the encoder takes a pooled buffer for its next batch
    enc = native.TraceEncoder()
    enc.extend(recs)
    expected = enc.finish()
    enc.extend(recs)
    body = enc.finish_view()
    view = memoryview(body)
    before = native.pooled_buffers()
    del body
    gc.collect()
    assert native.pooled_buffers() == before and view.tobytes() == expected  # the view keeps it alive
    view.release()
    del view
    gc.collect()
    assert native.pooled_buffers() == before + 1  # back in the pool for the next batch
    enc.extend(recs)
    again = enc.finish_view()
    assert again == expected and repr(again) == f"<Body {len(expected)} bytes, pooled>"


def test_a_body_equals_the_same_bytes_and_nothing_else():
    native = implementation("native")
    enc = native.TraceEncoder()
    enc.extend([full_record(1), full_record(2)])
    expected = enc.finish()
    enc.extend([full_record(1), full_record(2)])
    body = enc.finish_view()
    other = bytearray(expected)
    other[len(other) // 2] ^= 1  # one bit, half-way: same length, other bytes
    assert body == expected and body == memoryview(expected) and expected == body
    assert body != bytes(other) and body != expected[:-1] and body != expected + b"x"
    assert body != "text" and body != 3 and body != b"" and body == body
    enc.extend([full_record(1), full_record(2)])
    assert body == enc.finish_view()  # two bodies: their bytes compared
