"""Prometheus metrics: the histograms and request outcomes the sender records, and a scrape of a running Broadcaster."""

from __future__ import annotations

import base64

import prometheus_client
import pytest
from conftest import free_port, full_record, wait_stats
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sinkthread import SinkThread
from test_pipeline_sender import FAST as SENDER_FAST
from test_pipeline_sender import run_pending

import spancast
from spancast import Broadcaster
from spancast.metrics import BroadcasterCollector, make_registry, render
from spancast.pipeline.retry import RetryPolicy
from spancast.pipeline.stats import (
    BATCH_RECORDS_BUCKETS,
    DROP_REASONS,
    LATENCY_BUCKETS_S,
    REQUEST_OUTCOMES,
    DestinationStats,
    Histogram,
)
from spancast.testing.sink import Expect, OtlpSink, Reply

FAST = RetryPolicy(max_attempts=3, max_retry_elapsed_s=10, initial_backoff_s=0.01, max_backoff_s=0.05)


# ------------------------------------------------------------------ helpers


def scrape(registry) -> tuple[dict, str, bytes]:
    """{(sample name, frozenset(labels)): value} of one scrape, its content type and its bytes."""
    body, content_type = render(registry)
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = s.value
    return samples, content_type, body


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def buckets(samples, name, **labels):
    """[(le, cumulative count)] of one histogram series, in bound order."""
    want = set(labels.items())
    rows = [(dict(k)["le"], v) for (n, k), v in samples.items() if n == f"{name}_bucket" and want <= set(k)]
    return sorted(rows, key=lambda row: float(row[0]))


def idle(stats):
    return all(d["queued"] == 0 and d["in_flight"] == 0 for d in stats["destinations"].values())


# ------------------------------------------------------------------ the histogram and the counters


def test_a_value_on_a_bucket_bound_is_in_that_bucket_as_le_says():
    h = Histogram((1, 2, 5))
    for v in (-1, 0, 1, 1.0000001, 2, 5, 5.5, 1e9):
        h.observe(v)
    assert h.counts == [3, 2, 1, 2]  # <=1: -1, 0, 1 | <=2: 1.0000001, 2 | <=5: 5 | +Inf: 5.5, 1e9
    assert h.cumulative() == [3, 5, 6, 8] and h.count == 8 and h.sum == pytest.approx(1e9 + 15.5000001)
    copy = h.snapshot()
    assert (copy.bounds, copy.counts, copy.sum, copy.count) == (h.bounds, h.counts, h.sum, h.count)
    assert copy.counts is not h.counts
    assert repr(Histogram((1.0,))) == "<Histogram count=0>"
    for bad in ((), (1, 1), (2, 1)):
        with pytest.raises(ValueError):
            Histogram(bad)
    with pytest.raises(ValueError):
        Histogram((1, 2), [0, 0])


def test_consecutive_failures_count_failed_requests_since_the_last_success():
    s = DestinationStats("x")
    steps = [("retry", 1), ("timeout", 2), ("error", 3), ("too_large", 3), ("permanent", 4), ("pending", 0),
             ("retry", 1), ("ok", 0)]
    for outcome, failures in steps:
        s.request_done(outcome, 0.01)
        assert s.consecutive_failures == failures, outcome
    assert s.requests == {"retry": 2, "timeout": 1, "error": 1, "too_large": 1, "permanent": 1, "pending": 1, "ok": 1}
    assert s.request_latency_s.count == len(steps) and s.request_latency_s.counts[1] == len(steps)  # 0.01 <= le 0.01
    with pytest.raises(ValueError):
        s.request_done("lost", 0.1)
    s.batch_sent(512, 4 * 1024 * 1024)
    assert s.batch_records.counts[BATCH_RECORDS_BUCKETS.index(512)] == 1 and s.batch_bytes.sum == 4 * 1024 * 1024
    assert s.balanced() and repr(s).endswith("retried=0>")
    s.request_done("timeout", 30.0)
    assert repr(s).endswith("retried=0 consecutive_failures=1>")


def test_pending_polls_are_requests_and_the_batch_is_observed_once():
    seen, stats, batch = run_pending(3, SENDER_FAST)
    assert len(seen) == 4 and stats.delivered == 4
    assert dict(stats.requests) == {"pending": 3, "ok": 1}  # the 202 to the POST, two 202 polls, the 200 poll
    assert stats.request_latency_s.count == 4 and stats.consecutive_failures == 0
    assert (stats.batch_records.count, stats.batch_records.sum) == (1, 4)
    assert stats.batch_bytes.sum == batch.wire_bytes



def test_file_appends_are_requests(tmp_path):
    with Broadcaster([{"type": "file", "directory": str(tmp_path)}], max_batch_records=4) as b:
        for i in range(10):
            b.emit(full_record(i))
        assert b.flush(10)
        stats = b.stats()["destinations"]["file"]
        live = b.destination_stats()["file"]
        samples, _, _ = scrape(make_registry(b, process=False))
    batches = sum(stats["batches"].values())
    assert stats["delivered"] == 10 and dict(live.requests) == {"ok": batches}
    assert live.request_latency_s.count == batches and live.batch_records.sum == 10
    assert live.batch_bytes.sum == stats["delivered_bytes"]
    assert value(samples, "spancast_requests_total", destination="file", type="file", outcome="ok") == batches


# ------------------------------------------------------------------ a scrape of a running Broadcaster


def test_a_scrape_agrees_with_stats_and_with_what_the_receivers_saw():
    recs = [full_record(i) for i in range(100)]
    refused = {"type": "otel-collector", "endpoint": f"http://127.0.0.1:{free_port()}/v1/traces", "name": "refused"}
    ok_thread, bad_thread = SinkThread(OtlpSink()), SinkThread(OtlpSink(default=Reply.error(503)))
    with ok_thread as ok_sink, bad_thread as bad_sink:
        destinations = [{"type": "otel-collector", "endpoint": ok_sink.url, "name": "healthy"},
                        {"type": "otel-collector", "endpoint": bad_sink.url, "name": "failing"}, refused]
        with Broadcaster(destinations, max_batch_records=25, retry=FAST) as b:
            registry = CollectorRegistry()
            BroadcasterCollector(b, registry)
            for r in recs:
                b.emit(r)
            b.flush(30)
            stats = wait_stats(b, lambda s: idle(s) and s["destinations"]["refused"]["dropped"])
            assert idle(stats)
            samples, content_type, _ = scrape(registry)
            live = b.destination_stats()
        ok_requests = ok_thread.call(lambda s: (len(s.replies), sum(r.wire_bytes for r in s.received)))
        bad_requests = bad_thread.call(lambda s: len(s.replies))
        assert ok_sink.problems == [] and bad_sink.problems == []

    assert content_type == prometheus_client.CONTENT_TYPE_LATEST
    assert value(samples, "spancast_info", version=spancast.__version__, impl=spancast.__impl__) == 1
    for name, d in stats["destinations"].items():
        labels = {"destination": name, "type": "otel-collector"}
        for metric, key in (("records_received", "received"), ("records_delivered", "delivered"),
                            ("records_filtered", "filtered"), ("records_sampled_out", "sampled_out"),
                            ("delivered_bytes", "delivered_bytes"), ("retries", "retried")):
            assert value(samples, f"spancast_{metric}_total", **labels) == d[key], (name, metric)
        for reason in DROP_REASONS:  # every reason, 0 included, so that rate() has a series from the start
            assert value(samples, "spancast_records_dropped_total", **labels, reason=reason) == d["dropped"].get(reason, 0)
        for outcome in REQUEST_OUTCOMES:
            got = value(samples, "spancast_requests_total", **labels, outcome=outcome)
            assert got == live[name].requests.get(outcome, 0), (name, outcome)
        for metric, key in (("queued_records", "queued"), ("queued_bytes", "queued_bytes"),
                            ("in_flight_records", "in_flight"), ("in_flight_bytes", "in_flight_bytes"),
                            ("oldest_queued_age_seconds", "oldest_queued_age_s"),
                            ("concurrency_limit", "concurrency_limit")):
            assert value(samples, f"spancast_{metric}", **labels) == d[key], (name, metric)
        for metric in ("request_duration_seconds", "batch_records", "batch_bytes"):
            rows = buckets(samples, f"spancast_{metric}", **labels)
            counts = [n for _, n in rows]
            assert rows[-1][0] == "+Inf" and counts == sorted(counts), (name, metric, rows)  # cumulative
            assert counts[-1] == value(samples, f"spancast_{metric}_count", **labels)
        assert [float(le) for le, _ in buckets(samples, "spancast_request_duration_seconds", **labels)][:-1] == list(
            LATENCY_BUCKETS_S)
        # One observation per batch, however often it was sent.
        assert value(samples, "spancast_batch_records_count", **labels) == sum(d["batches"].values())
        assert value(samples, "spancast_batch_records_sum", **labels) == 100
    for metric, section, key in (("intake_queued_records", "intake", "queued"), ("intake_queued_bytes", "intake", "bytes"),
                                 ("intake_max_records", "intake", "max_records"), ("intake_max_bytes", "intake", "max_bytes"),
                                 ("backlog_records", "backlog", "records"), ("backlog_bytes", "backlog", "bytes"),
                                 ("memory_bytes", "backlog", "memory_bytes"),
                                 ("max_memory_bytes", "backlog", "max_memory_bytes")):
        assert value(samples, f"spancast_{metric}") == stats[section][key], metric
    assert value(samples, "spancast_intake_dropped_records_total") == stats["intake"]["dropped"] == 0

    healthy, failing, down = (stats["destinations"][n] for n in ("healthy", "failing", "refused"))
    h = {"destination": "healthy", "type": "otel-collector"}
    f = {"destination": "failing", "type": "otel-collector"}
    r = {"destination": "refused", "type": "otel-collector"}
    assert healthy["delivered"] == 100 and failing["dropped"] == {"retries_exhausted": 100}
    assert down["dropped"] == {"retries_exhausted": 100}
    # Every request the receivers answered is one observation, and one counted outcome.
    assert value(samples, "spancast_request_duration_seconds_count", **h) == ok_requests[0]
    assert value(samples, "spancast_requests_total", **h, outcome="ok") == ok_requests[0]
    assert value(samples, "spancast_batch_bytes_sum", **h) == ok_requests[1] == healthy["delivered_bytes"]
    assert value(samples, "spancast_request_duration_seconds_count", **f) == bad_requests
    assert value(samples, "spancast_requests_total", **f, outcome="retry") == bad_requests == 3 * sum(
        failing["batches"].values())
    assert value(samples, "spancast_retries_total", **f) == failing["retried"] > 0
    refused_requests = value(samples, "spancast_requests_total", **r, outcome="error")
    assert refused_requests == value(samples, "spancast_request_duration_seconds_count", **r) > 0
    assert value(samples, "spancast_consecutive_failures", **h) == 0
    assert value(samples, "spancast_consecutive_failures", **f) == bad_requests
    assert value(samples, "spancast_consecutive_failures", **r) == refused_requests


def test_no_secret_reaches_the_metrics():
    token, signing, public, secret, header = ("s3cr3t-token", "whsec-s3cr3t-signing", "pk-lf-publ1c",
                                              "sk-lf-s3cr3t-key", "hdr-s3cr3t-value")
    basic = base64.b64encode(f"{public}:{secret}".encode()).decode()
    hook_thread = SinkThread(OtlpSink(Expect(headers={"Authorization": f"Bearer {token}"})))
    fuse_thread = SinkThread(OtlpSink(Expect(path="/api/public/otel/v1/traces", headers={"Authorization": f"Basic {basic}"})))
    # A receiver that repeats the key in its refusal: it reaches last_error, and must go no further.
    bad_thread = SinkThread(OtlpSink(default=Reply.error(401, body=f"invalid key {header}".encode())))
    with hook_thread as hook, fuse_thread as fuse, bad_thread as bad:
        destinations = [
            {"type": "webhook", "url": hook.url, "headers": {"Authorization": f"Bearer {token}"}, "signingSecret": signing},
            {"type": "langfuse", "baseUrl": fuse.base_url, "publicKey": public, "secretKey": secret},
            {"type": "otel-collector", "endpoint": bad.url, "headers": {"x-api-key": header}},
        ]
        with Broadcaster(destinations, retry=FAST) as b:
            for i in range(10):
                b.emit(full_record(i))
            b.flush(30)
            stats = wait_stats(b, idle)
            samples, _, body = scrape(make_registry(b))
        urls = [hook.url, fuse.base_url, bad.url]
    assert {name: d["delivered"] for name, d in stats["destinations"].items()} == {
        "webhook": 10, "langfuse": 10, "otel-collector": 0}
    # kept without the key it repeated (spancast.scrub), and the metrics hold neither
    assert stats["destinations"]["otel-collector"]["last_error"] == "HTTP 401: invalid key ***"
    assert value(samples, "spancast_records_delivered_total", destination="langfuse", type="langfuse") == 10
    assert value(samples, "spancast_consecutive_failures", destination="otel-collector", type="otel-collector") > 0
    text = body.decode()
    for leak in (token, signing, public, secret, basic, header, "Bearer", "Basic", *urls, "127.0.0.1"):
        assert leak not in text, leak
    assert "process_resident_memory_bytes" in text or "python_info" in text  # make_registry's process metrics


def test_the_collector_registers_only_where_asked_and_reads_a_broadcaster_not_started():
    b = Broadcaster([{"type": "otel-collector", "endpoint": "http://127.0.0.1:4318/v1/traces"}])
    registry = CollectorRegistry()
    collector = BroadcasterCollector(b, registry)  # describe() runs here: it must not need a started broadcaster
    assert prometheus_client.REGISTRY.get_sample_value("spancast_info", {"version": spancast.__version__,
                                                                         "impl": spancast.__impl__}) is None
    with pytest.raises(ValueError):  # the names are known to the registry: a second collector clashes
        BroadcasterCollector(b, registry)
    samples, _, body = scrape(registry)
    assert value(samples, "spancast_info", version=spancast.__version__, impl=spancast.__impl__) == 1
    assert value(samples, "spancast_max_memory_bytes") == b.max_memory_bytes
    assert b"destination=" not in body  # no lane yet: no per-destination series
    assert b"python_info" not in body and collector.broadcaster is b
