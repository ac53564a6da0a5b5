"""The sender against a real local receiver: delivered, retried, split, refused, and every loss counted."""

from __future__ import annotations

import asyncio
import logging

import pytest

from conftest import full_record
from spancast.destinations import make_destination
from spancast.pipeline.batcher import Batch
from spancast.pipeline.limiter import AdaptiveLimit
from spancast.destinations.base import Payload, Request
from spancast.destinations.otlp import OtlpDestination
from spancast.pipeline.retry import Action, Decision, RetryPolicy
from spancast.pipeline.sender import Sender
from spancast.pipeline.stats import DestinationStats
from spancast.testing.sink import OtlpSink, Reply

FAST = RetryPolicy(max_attempts=4, max_retry_elapsed_s=5, initial_backoff_s=0.01, max_backoff_s=0.05)


def batch_of(dest, recs):
    enc = dest.new_encoder()
    enc.extend(recs)
    return Batch(enc.finish(), list(recs), "records", 0.0)


async def deliver(sink, batches_recs, *, script=(), retry=FAST, timeout_s=5.0, compression="none", drain_s=10.0):
    sink.script(*script)
    dest = make_destination({"type": "otel-collector", "endpoint": sink.url, "timeout_s": timeout_s, "compression": compression})
    stats = DestinationStats(dest.name)
    sender = Sender(dest, stats, retry=retry, limit=AdaptiveLimit(initial=2, minimum=1, maximum=4))
    await sender.start()
    try:
        for recs in batches_recs:
            stats.received += len(recs)
            sender.submit(batch_of(dest, recs))
        await sender.drain(drain_s)
    finally:
        await sender.close()
    return stats


def recs(n, start=0):
    return [full_record(i) for i in range(start, start + n)]


def run(main):
    async def wrapper():
        async with OtlpSink() as sink:
            return sink, await main(sink)

    return asyncio.run(wrapper())


def test_every_record_delivered_once_when_nothing_fails():
    batches = [recs(5, 10 * i) for i in range(6)]
    sink, stats = run(lambda sink: deliver(sink, batches, compression="gzip"))
    assert sorted(sink.generation_ids()) == sorted(r.id for b in batches for r in b)
    assert (stats.delivered, stats.retried, dict(stats.dropped), stats.in_flight) == (30, 0, {}, 0)
    assert stats.balanced() and stats.delivered_bytes > 0 and sink.problems == []


def test_retryable_answers_are_retried_and_retry_after_pauses_the_destination():
    batch = recs(3)
    script = (Reply.error(429, retry_after_s=0.2), Reply.error(503), Reply.error(502))

    async def main(sink):
        loop = asyncio.get_running_loop()
        start = loop.time()
        stats = await deliver(sink, [batch], script=script)
        return stats, loop.time() - start

    sink, (stats, took) = run(main)
    assert sink.generation_ids() == [r.id for r in batch]
    assert (stats.delivered, stats.retried) == (3, 3) and stats.balanced()
    assert took >= 0.2  # the Retry-After held the destination back
    assert [r.status for r in sink.replies] == [429, 503, 502, 200]


def test_a_permanent_error_drops_the_batch_counts_it_and_logs_once(caplog):
    caplog.set_level(logging.ERROR, logger="spancast")
    script = (Reply.error(400, body=b'{"error":"bad attribute"}'), Reply.error(400, body=b"again"))
    sink, stats = run(lambda sink: deliver(sink, [recs(2), recs(2, 5)], script=script))
    assert sink.generation_ids() == [] and stats.delivered == 0
    assert dict(stats.dropped) == {"permanent_http_error": 4} and stats.balanced()
    logged = [r for r in caplog.records if "HTTP 400" in r.getMessage()]
    assert len(logged) == 1 and "bad attribute" in logged[0].getMessage()
    assert "HTTP 400" in stats.last_error


def test_413_splits_until_it_fits_and_a_lone_record_too_large_is_dropped():
    batch = recs(4)
    # 4 -> 413; halves of 2: the first gets 413 again (-> 1 + 1), the second 200; then the last single gets 413
    script = (Reply.error(413), Reply.error(413), Reply.ok(), Reply.ok(), Reply.error(413))
    sink, stats = run(lambda sink: deliver(sink, [batch], script=script))
    assert stats.delivered + stats.dropped["too_large"] == 4 and stats.dropped["too_large"] == 1
    assert len(sink.generation_ids()) == 3 and len(set(sink.generation_ids())) == 3
    assert stats.balanced()


def test_partial_success_is_counted_not_retried():
    sink, stats = run(lambda sink: deliver(sink, [recs(5)], script=(Reply.partial(2, "2 too old"),)))
    assert (stats.delivered, dict(stats.dropped), stats.retried) == (3, {"partial_success": 2}, 0)
    assert "2 too old" in stats.last_error and stats.balanced()


def test_lost_answers_are_retried_at_least_once():
    batch = recs(3)
    sink, stats = run(lambda sink: deliver(sink, [batch], script=(Reply.reset(),)))
    ids = sink.generation_ids()
    assert set(ids) == {r.id for r in batch} and len(ids) == 6  # the receiver got it twice: at least once
    assert (stats.delivered, stats.retried) == (3, 1) and stats.balanced()


def test_a_stalled_answer_times_out_and_is_retried():
    batch = recs(2)
    sink, stats = run(lambda sink: deliver(sink, [batch], script=(Reply.stall(),), timeout_s=0.2))
    assert (stats.delivered, stats.retried) == (2, 1) and stats.balanced()
    assert [r.kind for r in sink.replies] == ["stall", "status"]


def test_retries_run_out():
    policy = RetryPolicy(max_attempts=3, max_retry_elapsed_s=5, initial_backoff_s=0.01, max_backoff_s=0.02)
    sink, stats = run(lambda sink: deliver(sink, [recs(2)], script=(Reply.error(503),) * 5, retry=policy))
    assert dict(stats.dropped) == {"retries_exhausted": 2} and stats.retried == 2 and stats.balanced()
    assert len(sink.replies) == 3


def test_drain_stops_at_its_deadline_and_counts_what_was_left():
    async def main(sink):
        loop = asyncio.get_running_loop()
        start = loop.time()
        stats = await deliver(sink, [recs(2), recs(3, 10)], script=(Reply.stall(), Reply.stall()), drain_s=0.2)
        return stats, loop.time() - start

    sink, (stats, took) = run(main)
    assert dict(stats.dropped) == {"shutdown_deadline": 5} and stats.in_flight == 0 and stats.balanced()
    assert took < 5  # it did not wait for the request timeout


def test_reprs():
    stats = DestinationStats("x", received=3, delivered=2)
    stats.drop("queue_full", 1)
    assert repr(stats) == "<DestinationStats x received=3 delivered=2 filtered=0 sampled_out=0 queued=0 in_flight=0 dropped=(queue_full=1) retried=0>"
    with pytest.raises(ValueError):
        stats.drop("lost", 1)



class Pending(OtlpDestination):
    """A receiver that answers 202 and a status URL (as Snowflake's SQL API does): followed, not re-sent."""

    base = ""

    def classify(self, status, headers, body):
        if status == 202:
            return Decision(Action.PENDING, status, poll_url=self.base + headers["Location"])
        return super().classify(status, headers, body)

    def poll_request(self, url):
        return Request("GET", url, {"Authorization": "Bearer t"}, b"")


async def one_batch(cls, routes, n, retry, raw=False, **settings):
    """Send one batch of n records through a destination of type cls to a local app serving routes
    [(method, path, handler)]; (stats, batch) once the sender is done with it. raw: the handlers read
    bodies as sent (not decompressed)."""
    from aiohttp import web

    app = web.Application()
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, auto_decompress=not raw)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    try:
        dest = cls({"type": "otel-collector", "endpoint": base + "/v1/traces", **settings})
        dest.base = base
        stats = DestinationStats(dest.name)
        sender = Sender(dest, stats, retry=retry, limit=AdaptiveLimit(initial=1, minimum=1, maximum=1))
        await sender.start()
        batch = batch_of(dest, recs(n))
        stats.received += n
        sender.submit(batch)
        await sender.drain(10)
        await sender.close()
        return stats, batch
    finally:
        await runner.cleanup()


def run_pending(done_after_polls, retry):
    """Deliver one 4-record batch to a receiver that says 202 until its status URL was asked done_after_polls times."""
    from aiohttp import web

    seen = []

    async def post(request):
        seen.append(("POST", await request.read() != b""))
        return web.Response(status=202, headers={"Location": "/status/1"})

    async def status(request):
        seen.append(("GET", request.headers.get("Authorization")))
        done = len(seen) - 1 >= done_after_polls
        return web.Response(status=200 if done else 202, headers={"Location": "/status/1"})

    routes = [("POST", "/v1/traces", post), ("GET", "/status/1", status)]
    stats, batch = asyncio.run(one_batch(Pending, routes, 4, retry))
    return seen, stats, batch


def test_a_pending_batch_is_followed_to_its_end_without_being_sent_again():
    seen, stats, batch = run_pending(3, FAST)
    assert seen == [("POST", True)] + [("GET", "Bearer t")] * 3
    assert (stats.delivered, dict(stats.dropped), batch.attempts) == (4, {}, 1) and stats.balanced()


def test_a_batch_pending_for_too_long_is_counted():
    policy = RetryPolicy(max_attempts=4, max_retry_elapsed_s=5, initial_backoff_s=0.01, max_backoff_s=0.05,
                         max_pending_s=0.2, max_poll_interval_s=0.05)
    seen, stats, _ = run_pending(10**6, policy)  # never done
    assert seen[0] == ("POST", True) and len(seen) > 2 and all(kind == "GET" for kind, _ in seen[1:])
    assert dict(stats.dropped) == {"retries_exhausted": 4} and "still pending" in stats.last_error
    assert stats.balanced()
    assert policy.poll_delay_s(0, Decision(Action.PENDING, 202)) == 0.05
    assert policy.poll_delay_s(0, Decision(Action.PENDING, 202, retry_after_s=0.01)) == 0.01


class TwoParts(OtlpDestination):
    """A receiver whose batches take two requests (as Opik's traces, then spans)."""

    base = ""
    requests_per_batch = 2

    def payloads(self, body, records=()):
        return [Payload(body, url=self.base + "/first"), Payload(body, url=self.base + "/second")]


def test_a_batch_of_several_requests_sends_them_in_order_and_resumes_where_it_failed():
    from aiohttp import web

    seen, taken = [], []

    async def first(request):
        seen.append("first")
        taken.append(len(await request.read()))
        return web.Response(status=200)

    async def second(request):
        seen.append("second")
        raw = await request.read()
        if seen.count("second") == 1:
            return web.Response(status=503)
        taken.append(len(raw))
        return web.Response(status=200)

    routes = [("POST", "/first", first), ("POST", "/second", second)]
    # Two attempts per request: the second request's 503 is retried on its own budget, not the batch's.
    two = RetryPolicy(max_attempts=2, max_retry_elapsed_s=5, initial_backoff_s=0.01, max_backoff_s=0.05)
    stats, _ = asyncio.run(one_batch(TwoParts, routes, 3, two, compression="gzip", raw=True))
    assert seen == ["first", "second", "second"]  # the part already taken is not sent again
    assert (stats.delivered, stats.retried, dict(stats.dropped)) == (3, 1, {}) and stats.balanced()
    # Each part is a request of its own (metrics); the batch is observed once, on its first request.
    assert dict(stats.requests) == {"ok": 2, "retry": 1} and stats.request_latency_s.count == 3
    assert (stats.batch_records.count, stats.batch_records.sum) == (1, 3) and stats.consecutive_failures == 0
    # Its bytes as sent: both requests' compressed bodies, counted once whatever the retries.
    assert stats.delivered_bytes == stats.batch_bytes.sum == sum(taken)


def test_a_413_on_a_later_request_splits_without_sending_the_taken_ones_again():
    from aiohttp import web

    seen = []

    async def first(request):
        seen.append(("first", span_ids(await request.read())))
        return web.Response(status=200)

    async def second(request):
        seen.append(("second", span_ids(await request.read())))
        return web.Response(status=413 if len(seen) == 2 else 200)

    routes = [("POST", "/first", first), ("POST", "/second", second)]
    stats, _ = asyncio.run(one_batch(TwoParts, routes, 4, FAST, encoding="json"))
    # the halves start at the request refused: the first, taken for all four records, goes once
    assert [path for path, _ in seen] == ["first", "second", "second", "second"]
    assert seen[0][1] == seen[1][1] == seen[2][1] | seen[3][1]  # spans: all of the batch's, then its halves'
    assert (stats.delivered, dict(stats.dropped), stats.batches["split"]) == (4, {}, 2) and stats.balanced()


def span_ids(body):
    import json

    return {s["spanId"] for rs in json.loads(body)["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}
