"""One contract for every HTTP destination in the registry, against a local fake of its backend.

The fake checks what the real service checks: the path, the method, the auth headers (the vendor's
own rule, from tests/contract/<type>.py), the content type, and that the body decodes. Each
destination must deliver a batch, obey 429 + Retry-After, retry 503, drop and count a 400, split on
413, pass and fail its connection test, keep its secrets out of every repr, log line and error, and
with privacy mode send no byte of the content. A destination added to the registry without a
contract file fails here, so it cannot ship untested. Golden request bodies: tests/golden/<type>.json
(regenerate with SPANCAST_UPDATE_GOLDEN=1 and review the diff like code).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
from pathlib import Path

import pytest

from conftest import full_record, load_contract
from sinkthread import SinkThread
from spancast import Broadcaster, ConfigError
from spancast.destinations import REGISTRY, make_destination
from spancast.pipeline.retry import RetryPolicy
from spancast.testing.sink import Expect, OtlpSink, Reply

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
FAST = RetryPolicy(max_attempts=5, max_retry_elapsed_s=10, initial_backoff_s=0.01, max_backoff_s=0.05)
HTTP_TYPES = sorted(t for t, cls in REGISTRY.items() if cls.transport == "http")
#: Destinations outside this contract (no HTTP: no status, no Retry-After, no 413): why, and the file
#: that tests them end to end instead.
NOT_HTTP = {
    "file": ("appends to a local file", "test_file_destination.py"),
    "redis": ("XADDs to a Redis stream; its errors are Redis replies (a real redis-server)", "test_redis_destination.py"),
}
N = 12  # records per delivery test


def contract(kind: str):
    module = load_contract(kind)
    if module is None:
        pytest.fail(f"destination {kind!r} has no contract file tests/contract/{kind}.py")
    return module


def fake(c, default: Reply | None = None) -> OtlpSink:
    """The destination's fake backend. OTLP bodies are decoded with opentelemetry-proto; any other body
    (BODY != "otlp") with the contract's own decode(body, content_type) -> generation ids."""
    decode = None if c.BODY == "otlp" else c.decode
    prefix = getattr(c, "PATH_PREFIX", None)  # object stores: every key under a prefix
    expect = Expect(path=prefix + "*" if prefix else c.PATH, method=c.METHOD, content_types=frozenset({c.CONTENT_TYPE}), auth=c.check_auth,
                    decode=decode)
    return OtlpSink(expect, default=default)


def start(c, sink, **extra) -> Broadcaster:
    return Broadcaster([c.config(sink.base_url, **extra)], max_batch_records=N, retry=FAST).start()


def burst(c, sink, recs, **extra) -> dict:
    """Emit recs to the destination at sink, flush, close; its stats (checked to add up)."""
    b = start(c, sink, **extra)
    for r in recs:
        b.emit(r)
    assert b.flush(10)
    stats = b.stats()
    b.close()
    return only(stats)


def only(stats):
    (d,) = stats["destinations"].values()
    total = d["delivered"] + sum(d["dropped"].values()) + d["filtered"] + d["sampled_out"] + d["queued"] + d["in_flight"]
    assert total == d["received"], d
    return d


def assert_delivered(sink, recs):
    """Each record arrived once: by generation id, or for a flavour without one (OpenInference has no
    response id attribute) by the number of LLM spans and their distinct span ids."""
    ids = sink.generation_ids()
    if ids:
        assert sorted(ids) == sorted(r.id for r in recs)
        return
    llm = [s["span_id"] for r in sink.received for s in r.spans if s["attributes"].get("openinference.span.kind") == "LLM"]
    assert len(llm) == len(set(llm)) == len(recs)


def test_every_destination_outside_the_contract_says_why():
    assert {t for t, cls in REGISTRY.items() if cls.transport != "http"} == set(NOT_HTTP)
    for kind, (_, tests) in NOT_HTTP.items():
        assert (HERE / tests).exists(), kind


@pytest.fixture(params=HTTP_TYPES)
def kind(request):
    return request.param


def test_every_destination_has_a_contract_and_builds_from_it(kind):
    c = contract(kind)
    d = make_destination(c.config("http://127.0.0.1:9"))
    assert d.type == kind and c.CONTENT_TYPE and c.SECRETS
    assert c.BODY == "otlp" or callable(getattr(c, "decode", None))


def test_delivers_a_batch(kind):
    c = contract(kind)
    recs = [full_record(i) for i in range(N)]
    with SinkThread(fake(c)) as sink:
        d = burst(c, sink, recs)
    assert_delivered(sink, recs)
    assert sink.problems == [] and d["delivered"] == N


def test_obeys_429_retry_after_and_retries_503(kind):
    c = contract(kind)
    recs = [full_record(i) for i in range(N)]
    thread = SinkThread(fake(c))
    with thread as sink:
        thread.call(lambda s: s.script(Reply.error(429, retry_after_s=0.3), Reply.error(503)))
        began = time.monotonic()
        d = burst(c, sink, recs)
        took = time.monotonic() - began
    assert_delivered(sink, recs)
    assert d["retried"] == 2 and d["dropped"] == {}
    assert [r.status for r in sink.replies] == [429, 503, 200]
    assert took >= 0.3  # the Retry-After held the destination back


def test_drops_a_400_and_counts_it(kind):
    c = contract(kind)
    with SinkThread(fake(c, default=Reply.error(400, body=b"bad request: field x"))) as sink:
        d = burst(c, sink, [full_record(i) for i in range(N)])
    assert d["dropped"] == {"permanent_http_error": N} and d["retried"] == 0
    assert "field x" in d["last_error"]


def test_splits_on_413(kind):
    c = contract(kind)
    recs = [full_record(i) for i in range(N)]
    thread = SinkThread(fake(c))
    with thread as sink:
        thread.call(lambda s: s.script(Reply.error(413)))
        d = burst(c, sink, recs)
    assert_delivered(sink, recs)
    assert d["batches"].get("split") == 2 and len(sink.received) == 2


def test_connection_test_passes_and_fails(kind):
    c = contract(kind)
    with SinkThread(fake(c)) as sink:
        good = Broadcaster([c.config(sink.base_url)]).test_connection(make_destination(c.config(sink.base_url)).name)
        assert good.ok and good.status is not None and 200 <= good.status < 300, good
        assert sink.problems == []
    with SinkThread(fake(c, default=Reply.error(403, body=b"forbidden"))) as sink:
        name = make_destination(c.config(sink.base_url)).name
        bad = Broadcaster([c.config(sink.base_url)]).test_connection(name)
        assert not bad.ok and bad.status == 403 and "credentials" in bad.hint and bad.excerpt == "forbidden"
    with SinkThread(fake(c)) as sink:
        wrong = c.config(sink.base_url + "/nothing-here")
        bad = Broadcaster([wrong]).test_connection(make_destination(wrong).name)
        assert not bad.ok and bad.status == 404 and "path" in bad.hint
    refused = Broadcaster([c.config("http://127.0.0.1:9")])  # the discard port: nothing listens
    result = refused.test_connection(refused.destinations[0].name, timeout_s=5)
    assert not result.ok and result.status is None and result.error and result.hint


def test_secrets_never_show(kind, caplog):
    c = contract(kind)
    caplog.set_level(logging.DEBUG, logger="spancast")
    shown = []
    with SinkThread(fake(c, default=Reply.error(400, body=b"nope"))) as sink:
        b = start(c, sink)
        d = b.destinations[0]
        b.emit(full_record(1))
        b.flush(10)
        shown += [repr(b), repr(d), repr(d.settings), repr(d.request(b"{}")), repr(b.stats()), repr(b.lanes)]
        shown.append(json.dumps(b.preview(full_record(1), d.name)))
        shown.append(repr(b.test_connection(d.name)))
        b.close()
    for bad in ({"timeout_s": -1}, {"compression": "brotli"}, {"unknownKey": 1}):
        with pytest.raises(ConfigError) as info:
            make_destination(c.config("http://127.0.0.1:9", **bad))
        shown += [str(info.value), repr(info.value)]
    shown += [record.getMessage() for record in caplog.records]
    text = "\n".join(shown)
    for secret in c.SECRETS:
        assert secret not in text, f"secret {secret[:4]}... shown"


def test_privacy_mode_sends_no_byte_of_the_content(kind):
    c = contract(kind)
    secret_texts = ["PROMPT-7f3a needle", "COMPLETION-91bc needle", "REASONING-55de needle", "MESSAGE-c0ff needle"]
    recs = [full_record(i, prompt=secret_texts[0], completion=secret_texts[1], reasoning=secret_texts[2],
                        messages=[{"role": "user", "content": secret_texts[3]}]) for i in range(N)]
    with SinkThread(fake(c)) as sink:
        burst(c, sink, recs, privacy_mode=True, compression="gzip")
    assert_delivered(sink, recs)
    for received in sink.received:
        assert received.encoding == "gzip" and gzip.decompress(received.raw) == received.body
        for text in secret_texts:
            for blob in (received.raw, received.body):
                assert text.encode() not in blob and text.split()[0].encode() not in blob


def test_golden_request(kind):
    c = contract(kind)
    d = make_destination(c.config("https://backend.example"))
    got = Broadcaster([c.config("https://backend.example")]).preview(full_record(7), d.name)
    path = GOLDEN / f"{kind}.json"
    text = json.dumps(got, indent=2, sort_keys=True) + "\n"
    if os.environ.get("SPANCAST_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden request for {kind}: run with SPANCAST_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{kind}'s request changed: review, then SPANCAST_UPDATE_GOLDEN=1"
    for secret in c.SECRETS:
        assert secret not in text
