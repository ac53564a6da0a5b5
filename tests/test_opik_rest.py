"""Opik's REST route (``opik`` with ``route: rest``): the contract checks against a local fake, ids, mapping.

The contract suite (tests/test_contract.py) runs ``opik`` once, on its default OTLP route; this file runs
the same checks for the REST route through a real Broadcaster: deliver a batch (traces, then spans),
429 + Retry-After, 503 (on the spans request it resumes there: traces are not sent again), a 400
counted, a 413 split, the connection test, secrets, privacy mode, and a golden preview
(tests/golden/opik-rest.json; regenerate with SPANCAST_UPDATE_GOLDEN=1 and review the diff like code).
The fake answers both batch paths as Opik does (204) and checks what Opik checks: the path, the key
itself in Authorization, Comet-Workspace, JSON, UUIDv7 ids, 1 to 1000 items; and beyond Opik, that every
span names a trace the fake has already taken (traces go first).
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import json
import logging
import os
import time
import uuid
from collections import deque
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from conftest import full_record
from sinkthread import SinkThread
from spancast import Broadcaster, ConfigError, Generation
from spancast.destinations import make_destination
from spancast.destinations.opik import OpikDestination
from spancast.destinations.opik_rest import (MAX_BATCH_BYTES, MAX_BATCH_RECORDS, OpikRestDestination, opik_id,
                                           render_documents)
from spancast.pipeline.retry import RetryPolicy
from spancast.testing.sink import Reply

GOLDEN = Path(__file__).resolve().parent / "golden" / "opik-rest.json"
FAST = RetryPolicy(max_attempts=5, max_retry_elapsed_s=10, initial_backoff_s=0.01, max_backoff_s=0.05)
N = 12
KEY = "opik_rest_7d2f1c9a4e6b8035"
WORKSPACE, PROJECT = "rest-workspace", "rest-project"
BASE = "/opik/api"
TRACES = BASE + "/v1/private/traces/batch"
SPANS = BASE + "/v1/private/spans/batch"
TRACE_FIELDS = {"id", "project_name", "name", "start_time", "end_time", "input", "output", "metadata", "tags",
                "error_info", "last_updated_at", "ttft", "thread_id", "source", "environment"}
SPAN_FIELDS = {"id", "project_name", "trace_id", "parent_span_id", "name", "type", "start_time", "end_time", "input",
               "output", "metadata", "model", "provider", "tags", "usage", "error_info", "last_updated_at",
               "total_estimated_cost", "total_estimated_cost_version", "ttft", "source", "environment"}


def requests(d, body):
    """The requests a batch body becomes, as the sender builds them: its payloads, each compressed, then built."""
    return [d.wire_request(payload) for payload in d.payloads(body)]


def config(base_url: str, **extra) -> dict:
    return {"type": "opik", "route": "rest", "apiKey": KEY, "workspace": WORKSPACE, "projectName": PROJECT,
            "baseUrl": base_url + BASE, **extra}


# ---------------------------------------------------------------- the fake: what Opik checks


def _uuid7(text) -> uuid.UUID:
    value = uuid.UUID(text)  # ValueError: Jackson cannot read it as a UUID (400)
    if str(value) != text or value.version != 7 or value.variant != uuid.RFC_4122:
        raise ValueError(f"id must be a version 7 UUID: {text!r}")
    return value


def _time(value, field: str) -> datetime.datetime:
    if not isinstance(value, str):
        raise ValueError(f"{field} missing")
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.utcoffset() != datetime.timedelta(0):
        raise ValueError(f"{field} is not UTC")
    return parsed


def _check_common(doc: dict, fields: set[str]) -> uuid.UUID:
    if set(doc) - fields:
        raise ValueError(f"unknown fields {sorted(set(doc) - fields)}")
    ident = _uuid7(doc.get("id"))
    start = _time(doc.get("start_time"), "start_time")
    if "end_time" in doc and _time(doc["end_time"], "end_time") < start:
        raise ValueError("ended before it started")
    # Opik checks the id's 48-bit timestamp against a window around now (UuidV7TimestampValidator, 24 h either
    # side by default); these records are from 2024, so here: within an hour before the start (a shared
    # trace's id is stamped with its start's UTC hour) or at the start
    stamp, start_ms = ident.int >> 80, int(start.timestamp() * 1000)
    if not start_ms - 3_600_000 <= stamp <= start_ms:
        raise ValueError("the id's timestamp is not the start time")
    if doc.get("project_name") != PROJECT:
        raise ValueError("project_name must name the project")
    if not isinstance(doc.get("name"), str) or not doc["name"]:
        raise ValueError("name must not be blank")
    if not isinstance(doc.get("metadata", {}), dict):
        raise ValueError("metadata must be an object")
    if "error_info" in doc:
        info = doc["error_info"]
        if not info.get("exception_type") or not info.get("traceback"):
            raise ValueError("error_info needs exception_type and traceback")
    for key in ("input", "output"):
        if key in doc and not isinstance(doc[key], (dict, list, str)):
            raise ValueError(f"{key} must be JSON")
    if "tags" in doc and not all(isinstance(t, str) for t in doc["tags"]):
        raise ValueError("tags must be strings")
    return ident


class OpikFake:
    """Opik's two batch endpoints on 127.0.0.1: answers 204, or what is scripted for a path."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply("status", 204)
        self.scripts: dict[str, deque[Reply]] = {TRACES: deque(), SPANS: deque()}
        self.received: list[tuple[str, dict, bytes, bytes, dict]] = []  # path, headers, raw, body, document
        self.replies: list[tuple[str, int]] = []
        self.problems: list[tuple[int, str]] = []
        self.trace_ids: set[str] = set()
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> OpikFake:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, auto_decompress=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, path: str, *replies: Reply) -> None:
        self.scripts[path].extend(replies)

    def paths(self) -> list[str]:
        return [path for path, *_ in self.received]

    def documents(self, key: str) -> list[dict]:
        return [item for path, _, _, _, doc in self.received for item in doc.get(key, [])]

    def generation_ids(self) -> list[str]:
        return [span["metadata"]["openrouter_observation_id"] for span in self.documents("spans")]

    def _refuse(self, status: int, reason: str) -> web.Response:
        self.problems.append((status, reason))
        return web.Response(status=status, text=reason)

    def _check(self, path: str, doc) -> None:
        key = "traces" if path == TRACES else "spans"
        if not isinstance(doc, dict) or set(doc) != {key} or not isinstance(doc[key], list):
            raise ValueError(f"expected {{{key}: [...]}}")
        if not 1 <= len(doc[key]) <= 1000:
            raise ValueError("a batch takes 1 to 1000 items")
        for item in doc[key]:
            if key == "traces":
                _check_common(item, TRACE_FIELDS)
                continue
            _check_common(item, SPAN_FIELDS)
            if item.get("trace_id") not in self.trace_ids:
                raise ValueError(f"span {item['id']} names a trace not received yet")
            if "parent_span_id" in item:
                _uuid7(item["parent_span_id"])
            if item.get("type") != "llm":
                raise ValueError("expected an llm span")
            if any(not isinstance(v, int) or v > 2**31 - 1 for v in item.get("usage", {}).values()):
                raise ValueError("usage counts are Int32")

    async def _handle(self, request: web.Request) -> web.Response:
        if request.path not in (TRACES, SPANS):
            return self._refuse(404, f"no route {request.path}")
        if request.method != "POST":
            return self._refuse(405, request.method)
        if request.headers.get("Authorization") != KEY:
            return self._refuse(401, "Authorization must be the API key itself (no Bearer)")
        if request.headers.get("Comet-Workspace") != WORKSPACE:
            return self._refuse(401, "Comet-Workspace must name the workspace")
        if request.content_type != "application/json":
            return self._refuse(415, request.content_type)
        raw = await request.read()
        encoding = request.headers.get("Content-Encoding")
        try:
            body = gzip.decompress(raw) if encoding == "gzip" else raw
            if encoding not in (None, "gzip"):
                return self._refuse(415, f"encoding {encoding}")
            doc = json.loads(body)
            self._check(request.path, doc)
        except (ValueError, OSError) as exc:
            return self._refuse(400, str(exc))
        script = self.scripts[request.path]
        reply = script.popleft() if script else self.default
        self.replies.append((request.path, reply.status))
        if 200 <= reply.status < 300:
            self.received.append((request.path, dict(request.headers), raw, body, doc))
            self.trace_ids.update(t["id"] for t in doc.get("traces", []))
        return web.Response(status=reply.status, headers=dict(reply.headers), body=reply.body or None)


def burst(fake, recs, retry=FAST, **extra) -> dict:
    b = Broadcaster([config(fake.base_url, **extra)], max_batch_records=N, retry=retry).start()
    for r in recs:
        b.emit(r)
    assert b.flush(10)
    stats = b.stats()
    b.close()
    (d,) = stats["destinations"].values()
    settled = d["delivered"] + sum(d["dropped"].values()) + d["filtered"] + d["sampled_out"]
    assert settled + d["queued"] + d["in_flight"] == d["received"], d
    return d


def assert_delivered(fake, recs):
    assert sorted(fake.generation_ids()) == sorted(r.id for r in recs)
    spans = fake.documents("spans")
    traces = {t["id"]: t for t in fake.documents("traces")}
    assert {s["trace_id"] for s in spans} <= set(traces)
    for span in spans:  # each span in the trace of its own record
        assert traces[span["trace_id"]]["metadata"]["openrouter_trace_id"] == span["metadata"]["openrouter_trace_id"]


# ---------------------------------------------------------------- the contract checks


def test_delivers_a_batch_traces_first():
    recs = [full_record(i) for i in range(N)]
    with SinkThread(OpikFake()) as fake:
        d = burst(fake, recs)
    assert fake.problems == [] and d["delivered"] == N and d["dropped"] == {}
    assert fake.paths() == [TRACES, SPANS]
    assert_delivered(fake, recs)
    for _, headers, _, _, _ in fake.received:
        assert headers["Authorization"] == KEY and headers["Comet-Workspace"] == WORKSPACE
        assert "projectName" not in headers  # the project travels in the body
    assert len(fake.documents("traces")) == len(fake.documents("spans")) == N


def test_obeys_429_retry_after_and_retries_503():
    recs = [full_record(i) for i in range(N)]
    thread = SinkThread(OpikFake())
    with thread as fake:
        thread.call(lambda f: f.script(TRACES, Reply.error(429, retry_after_s=0.3), Reply.error(503)))
        began = time.monotonic()
        d = burst(fake, recs)
        took = time.monotonic() - began
    assert_delivered(fake, recs)
    assert d["retried"] == 2 and d["dropped"] == {} and took >= 0.3
    assert fake.replies == [(TRACES, 429), (TRACES, 503), (TRACES, 204), (SPANS, 204)]


def test_a_503_on_the_spans_request_resumes_there_without_sending_the_traces_again():
    recs = [full_record(i) for i in range(N)]
    thread = SinkThread(OpikFake())
    with thread as fake:
        thread.call(lambda f: f.script(SPANS, Reply.error(503), Reply.error(429, retry_after_s=0.1)))
        d = burst(fake, recs, compression="gzip")
    assert fake.replies == [(TRACES, 204), (SPANS, 503), (SPANS, 429), (SPANS, 204)]
    assert fake.paths() == [TRACES, SPANS]  # the traces Opik took went once
    assert_delivered(fake, recs)
    assert d["delivered"] == N and d["retried"] == 2 and d["dropped"] == {} and fake.problems == []
    for _, headers, raw, body, _ in fake.received:  # each request compressed on its own
        assert headers["Content-Encoding"] == "gzip" and gzip.decompress(raw) == body


@pytest.mark.parametrize("path", [TRACES, SPANS])
def test_drops_a_400_and_counts_it(path):
    thread = SinkThread(OpikFake())
    with thread as fake:
        thread.call(lambda f: f.script(path, Reply.error(400, body=b'{"errors":["field x"]}')))
        d = burst(fake, [full_record(i) for i in range(N)])
    assert d["dropped"] == {"permanent_http_error": N} and d["retried"] == 0 and d["delivered"] == 0
    assert "field x" in d["last_error"]
    assert fake.replies == ([(TRACES, 400)] if path == TRACES else [(TRACES, 204), (SPANS, 400)])


@pytest.mark.parametrize("path", [TRACES, SPANS])
def test_splits_on_413(path):
    recs = [full_record(i, trace=None) for i in range(N)]  # a trace each
    thread = SinkThread(OpikFake())
    with thread as fake:
        thread.call(lambda f: f.script(path, Reply.error(413)))
        d = burst(fake, recs)
    assert_delivered(fake, recs)
    assert d["batches"].get("split") == 2 and d["delivered"] == N and fake.problems == []
    halves = [len(doc["spans"]) for p, *_, doc in fake.received if p == SPANS]
    assert sorted(halves) == [N // 2, N // 2]
    traces = fake.documents("traces")
    # a 413 on the spans splits the batch into halves that send their spans only: the traces Opik took
    # (for every record of the batch) are not sent again
    assert len(traces) == N and len({t["id"] for t in traces}) == N
    if path == SPANS:
        assert fake.replies == [(TRACES, 204), (SPANS, 413), (SPANS, 204), (SPANS, 204)]


def test_each_request_of_a_batch_has_a_retry_budget_of_its_own():
    # Two attempts per request: the traces take one, and the spans, refused once with a 503, still have both
    # of theirs (a budget shared by the batch had none left, and dropped it as retries_exhausted).
    recs = [full_record(i) for i in range(N)]
    two = RetryPolicy(max_attempts=2, max_retry_elapsed_s=10, initial_backoff_s=0.01, max_backoff_s=0.05)
    thread = SinkThread(OpikFake())
    with thread as fake:
        thread.call(lambda f: f.script(SPANS, Reply.error(503)))
        d = burst(fake, recs, retry=two)
    assert (d["delivered"], d["retried"], d["dropped"]) == (N, 1, {})
    assert fake.replies == [(TRACES, 204), (SPANS, 503), (SPANS, 204)]
    assert_delivered(fake, recs)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_delivered_bytes_are_the_bytes_sent(compression):
    recs = [full_record(i) for i in range(N)]
    with SinkThread(OpikFake()) as fake:
        d = burst(fake, recs, compression=compression)
    sent = [len(raw) for _, _, raw, _, _ in fake.received]  # the traces request's body, then the spans'
    assert len(sent) == 2 and d["delivered"] == N and d["delivered_bytes"] == sum(sent)


def test_connection_test_passes_and_fails():
    with SinkThread(OpikFake()) as fake:
        good = Broadcaster([config(fake.base_url)]).test_connection("opik")
        assert good.ok and good.status == 204, good
        assert fake.problems == [] and fake.paths() == [TRACES]  # a trace, no span
        (trace,) = fake.documents("traces")
        assert trace["name"] == "spancast-connection-test"
        assert trace["metadata"]["openrouter_trace_id"] == "0" * 31 + "1"
        # recent: inside Opik's window (a shared trace id's stamp is its start's UTC hour)
        assert 0 <= time.time() - (uuid.UUID(trace["id"]).int >> 80) / 1000 < 3600 + 60
    for status, words in ((401, "API key"), (403, "workspace")):
        with SinkThread(OpikFake(default=Reply.error(status, body=b"refused"))) as fake:
            bad = Broadcaster([config(fake.base_url)]).test_connection("opik")
            assert not bad.ok and bad.status == status and words in bad.hint and bad.excerpt == "refused"
    with SinkThread(OpikFake()) as fake:
        bad = Broadcaster([config(fake.base_url + "/nothing-here")]).test_connection("opik")
        assert not bad.ok and bad.status == 404 and "/v1/private/traces/batch" in bad.hint
    with SinkThread(OpikFake()) as fake:  # the fake's own check: the key itself, no Bearer
        wrong = Broadcaster([{**config(fake.base_url), "apiKey": "other"}]).test_connection("opik")
        assert not wrong.ok and wrong.status == 401
    result = Broadcaster([config("http://127.0.0.1:9")]).test_connection("opik", timeout_s=5)
    assert not result.ok and result.status is None and result.error and result.hint


def test_secrets_never_show(caplog):
    caplog.set_level(logging.DEBUG, logger="spancast")
    shown = []
    with SinkThread(OpikFake(default=Reply.error(400, body=b"nope"))) as fake:
        b = Broadcaster([config(fake.base_url)], max_batch_records=N, retry=FAST).start()
        d = b.destinations[0]
        b.emit(full_record(1))
        b.flush(10)
        encoder = d.new_encoder()
        encoder.append(full_record(2))
        body = encoder.finish()
        shown += [repr(b), repr(d), repr(d.settings), repr(d.request(body)), repr(requests(d, body)),
                  repr(b.stats()), repr(b.lanes), repr(d.test_request())]
        shown.append(json.dumps(b.preview(full_record(1), d.name)))
        shown.append(repr(b.test_connection(d.name)))
        b.close()
    for bad in ({"timeout_s": -1}, {"compression": "brotli"}, {"unknownKey": 1}, {"route": "grpc"},
                {"encoding": "json"}, {"resource": {"a": 1}}, {"workspace": "a\nb"}):
        with pytest.raises(ConfigError) as info:
            make_destination(config("http://127.0.0.1:9", **bad))
        shown += [str(info.value), repr(info.value)]
    shown += [record.getMessage() for record in caplog.records]
    text = "\n".join(shown)
    assert KEY not in text and KEY[5:] not in text


def test_privacy_mode_sends_no_byte_of_the_content():
    secret_texts = ["PROMPT-7f3a needle", "COMPLETION-91bc needle", "REASONING-55de needle", "MESSAGE-c0ff needle",
                    "TOOLCALL-3e8a needle"]
    recs = [full_record(i, prompt=secret_texts[0], completion=secret_texts[1], reasoning=secret_texts[2],
                        messages=[{"role": "user", "content": secret_texts[3]}],
                        tool_calls=[{"id": "c1", "type": "function",
                                     "function": {"name": "f", "arguments": secret_texts[4]}}]) for i in range(N)]
    with SinkThread(OpikFake()) as fake:
        burst(fake, recs, privacy_mode=True, compression="gzip")
    assert_delivered(fake, recs)
    assert fake.paths() == [TRACES, SPANS]
    for _, headers, raw, body, doc in fake.received:
        assert headers["Content-Encoding"] == "gzip" and gzip.decompress(raw) == body
        for text in secret_texts:
            for blob in (raw, body):
                assert text.encode() not in blob and text.split()[0].encode() not in blob
        for item in doc.get("traces", []) + doc.get("spans", []):
            assert "input" not in item and "output" not in item  # nothing stands in for the content
    for span in fake.documents("spans"):  # what privacy mode keeps: tokens, cost, timing, model, metadata
        assert span["usage"]["prompt_tokens"] == 1200 and span["total_estimated_cost"] == 0.0075
        assert span["metadata"]["customer_tier"] == "gold" and span["model"] == "openai/gpt-4o"


def test_golden_request():
    cfg = config("https://backend.example")
    got = Broadcaster([cfg]).preview(full_record(7), make_destination(cfg).name)
    assert got["url"] == "https://backend.example/opik/api/v1/private/{traces,spans}/batch"
    traces, spans = got["body"]  # the two documents, in the order they are sent
    assert [traces["traces"][0]["id"]] == [spans["spans"][0]["trace_id"]]
    text = json.dumps(got, indent=2, sort_keys=True) + "\n"
    if os.environ.get("SPANCAST_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert GOLDEN.exists(), "no golden request for opik-rest: run with SPANCAST_UPDATE_GOLDEN=1 and review it"
    assert text == GOLDEN.read_text(), "opik-rest's request changed: review, then SPANCAST_UPDATE_GOLDEN=1"
    assert KEY not in text


# ---------------------------------------------------------------- settings


def test_route_defaults_to_rest_and_otlp_changes_urls_auth_and_caps():
    default = make_destination({k: v for k, v in config("https://www.comet.com").items() if k != "route"})
    assert type(default) is OpikRestDestination  # OpenRouter's mapping is the REST API's
    otlp = make_destination({**config("https://www.comet.com"), "route": "otlp"})
    assert type(otlp) is OpikDestination and otlp.url == "https://www.comet.com/opik/api/v1/private/otel/v1/traces"
    assert otlp.requests_per_batch == 1 and otlp.max_batch_bytes is None and otlp.max_batch_records is None
    assert otlp.request(b"").headers["projectName"] == PROJECT
    rest = make_destination({**config(""), "baseUrl": "https://opik.acme.example/opik/api/"})  # slash dropped
    assert rest.encoding == "json" and rest.url == "https://opik.acme.example/opik/api/v1/private/traces/batch"
    assert (rest.max_batch_bytes, rest.max_batch_records) == (MAX_BATCH_BYTES, MAX_BATCH_RECORDS) == (5 << 20, 500)
    encoder = rest.new_encoder()
    encoder.append(full_record(1))
    first, second = requests(rest, encoder.finish())
    assert first.url.endswith("/v1/private/traces/batch") and second.url.endswith("/v1/private/spans/batch")
    assert dict(first.headers) == dict(second.headers) == {"Authorization": KEY, "Comet-Workspace": WORKSPACE,
                                                           "Content-Type": "application/json"}
    # a user header cannot replace the auth
    own = make_destination(config("https://x.example", headers={"authorization": "mine", "X-Team": "ml"}))
    assert own.headers() == {"X-Team": "ml", "Authorization": KEY, "Comet-Workspace": WORKSPACE,
                                  "Content-Type": "application/json"}


def test_the_lane_batches_under_opiks_limits():
    b = Broadcaster([config("http://127.0.0.1:9")], max_batch_bytes=64 * 1024 * 1024,
                    max_batch_records=5000).start()
    try:
        (lane,) = b.lanes
        assert lane.batcher.settings.max_batch_bytes == MAX_BATCH_BYTES
        assert lane.batcher.settings.max_batch_records == MAX_BATCH_RECORDS
    finally:
        b.close()


@pytest.mark.parametrize("extra, path, words", [
    ({"route": "grpc"}, "d.route", "invalid enum value"),
    ({"route": "rest", "encoding": "json"}, "d.encoding", "route: otlp only"),
    ({"route": "rest", "resource": {"team": "ml"}}, "d.resource", "route: otlp only"),
    ({"route": "rest", "workspace": " "}, "d.workspace", "must not be empty"),
    ({"route": "rest", "projectName": "a\r\nb"}, "d.projectName", "control characters"),
    ({"route": "rest", "baseUrl": "ftp://x"}, "d.baseUrl", "http(s) url"),
])
def test_settings_errors_name_the_key(extra, path, words):
    mapping = {"type": "opik", "apiKey": KEY, "workspace": "acme", "projectName": "checkout", **extra}
    with pytest.raises(ConfigError) as info:
        make_destination(mapping, "d")
    assert info.value.path == path and words in info.value.reason.lower()
    assert KEY not in str(info.value)


# ---------------------------------------------------------------- the body


def test_the_body_holds_both_documents_and_its_size_is_exact():
    encoder = make_destination(config("https://x.example")).new_encoder()
    assert encoder.size == len(b'{"traces":[]}\n{"spans":[]}')
    sizes = []
    for i in range(5):
        encoder.append(full_record(i))
        sizes.append(encoder.size)
    body = encoder.finish()
    assert type(body) is bytes and len(body) == sizes[-1] and encoder.size == 26
    traces, spans = body.split(b"\n")
    assert [t["id"] for t in json.loads(traces)["traces"]] == [s["trace_id"] for s in json.loads(spans)["spans"]]
    # its payloads: the two documents, each naming its endpoint (nothing rides inside the bytes)
    d = make_destination(config("https://x.example"))
    assert [(bytes(p.body), p.url.rsplit("/", 2)[1]) for p in d.payloads(body)] == [(traces, "traces"), (spans, "spans")]
    assert [bytes(r.body) for r in requests(d, body)] == [traces, spans]


def test_append_stops_at_max_bytes_and_a_lone_record_always_goes():
    encoder = make_destination(config("https://x.example")).new_encoder()
    one = encoder.append(full_record(0), max_bytes=10)  # alone: added however large
    assert one == encoder.size > 10
    assert encoder.append(full_record(1), max_bytes=encoder.size + 10) == 0 and encoder.records == 1
    added = encoder.append(full_record(1), max_bytes=1 << 20)
    assert encoder.size == one + added and len(encoder.finish()) == one + added


def test_a_bad_record_is_refused_alone():
    d = make_destination(config("https://x.example"))
    encoder = d.new_encoder()
    errors: list = []
    recs = [full_record(1), full_record(2, model_parameters={"huge": 2**70}), full_record(3)]
    encoder.append_many(recs, 0, 10, 1 << 20, errors)
    assert encoder.records == 2 and [i for i, _ in errors] == [1]
    traces, spans = (json.loads(bytes(r.body)) for r in requests(d, encoder.finish()))
    assert [s["metadata"]["openrouter_observation_id"] for s in spans["spans"]] == [recs[0].id, recs[2].id]
    assert len(traces["traces"]) == 2


# ---------------------------------------------------------------- ids and mapping


def _docs(rec: Generation):
    """(trace, llm span) of a record."""
    trace, spans = render_documents(rec, "checkout")
    return trace, spans[-1]


def test_ids_are_deterministic_uuid7_with_the_start_in_ms():
    a, b = full_record(1, trace=None), full_record(2, trace=None)
    assert _docs(a) == _docs(a)  # redelivery writes the same rows
    trace, span = _docs(a)
    for ident in (trace["id"], span["id"]):
        value = uuid.UUID(ident)
        assert str(value) == ident and value.version == 7 and value.variant == uuid.RFC_4122
        assert value.int >> 80 == a.start_time_ns // 1_000_000
    assert trace["id"] != span["id"] and span["trace_id"] == trace["id"]
    assert _docs(b)[0]["id"] != trace["id"] and _docs(b)[1]["id"] != span["id"]
    # fixed forever: a stored row must keep matching its redelivery
    assert opik_id("trace", "gen-1", 1_732_000_000_000_000_000) == "0193433e-a800-7a52-b3ff-d1a443d3646d"


def test_records_sharing_a_trace_id_are_one_trace():
    one, first = _docs(full_record(1, trace={"trace_id": "checkout-42"}))
    two, second = _docs(full_record(2, trace={"trace_id": "checkout-42"}))
    assert one["id"] == two["id"] == first["trace_id"] == second["trace_id"] and first["id"] != second["id"]
    stamp = uuid.UUID(one["id"]).int >> 80  # the start's UTC hour: the same for the whole trace, and recent
    assert stamp == full_record(1).start_time_ns // 3_600_000_000_000 * 3_600_000
    assert one["metadata"]["openrouter_trace_id"] == two["metadata"]["openrouter_trace_id"] == "checkout-42"
    other, _ = _docs(full_record(1, trace={"trace_id": "checkout-43"}))
    assert other["id"] != one["id"]
    alone, span = _docs(full_record(3, trace=None))
    assert alone["metadata"]["openrouter_trace_id"] == span["metadata"]["openrouter_observation_id"]


@pytest.mark.parametrize("given, kept", [
    ("0190b3c2-7a4e-7c1d-9e2f-123456789abc", True),
    ("0190B3C2-7A4E-7C1D-9E2F-123456789ABC", True),
    ("6ba7b810-9dad-41d1-80b4-00c04fd430c8", False),  # a v4 UUID: Opik would refuse the batch
    ("{0190b3c2-7a4e-7c1d-9e2f-123456789abc}", False),  # not how Opik writes it
    ("00f067aa0ba902b7", False),
    ("span-7", False),
])
def test_parent_span_ids(given, kept):
    _, span = _docs(full_record(trace={"parent_span_id": given}))
    assert ("parent_span_id" in span) is kept and span["metadata"]["openrouter_parent_span_id"] == given
    if kept:
        assert span["parent_span_id"] == given.lower()


@pytest.mark.parametrize("trace, trace_name, span_name", [
    ({"trace_name": "flow", "span_name": "tools", "generation_name": "answer"}, "flow", "answer"),
    ({"span_name": "tools"}, "openai/gpt-4o", "openai/gpt-4o"),
    ({}, "openai/gpt-4o", "openai/gpt-4o"),
])
def test_names(trace, trace_name, span_name):
    t, spans = render_documents(full_record(trace=trace), "checkout")
    s = spans[-1]
    assert t["name"] == trace_name and s["name"] == span_name
    assert s["metadata"].get("span_name") == trace.get("span_name")
    if trace.get("span_name"):  # an intermediate span of its own, between the trace and the llm span
        mid, _ = spans
        assert (mid["name"], mid["type"], mid["trace_id"]) == ("tools", "general", t["id"])
        assert s["parent_span_id"] == mid["id"] and "parent_span_id" not in mid
    else:
        assert len(spans) == 1


def test_trace_and_span_fields():
    rec = full_record(trace={"trace_id": "t-1", "user_id": "spoof", "tier": "gold", "tags": ["beta", 3, "eu"]},
                      reasoning="thinking", tool_calls=[{"id": "c1", "type": "function",
                                                         "function": {"name": "f", "arguments": "{}"}}])
    trace, span = _docs(rec)
    assert trace["metadata"]["user_id"] == "user-42"  # a system key wins over a custom one
    assert trace["metadata"]["tier"] == span["metadata"]["tier"] == "gold"
    assert trace["thread_id"] == "sess-7" and trace["tags"] == span["tags"] == ["beta", "eu"]
    assert trace["start_time"] == "2024-11-19T07:06:40.000000Z" and trace["end_time"] == "2024-11-19T07:06:41.250000Z"
    assert trace["input"] == span["input"] == {"messages": rec.messages}
    (choice,) = span["output"]["choices"]
    assert choice == {"index": 0, "finish_reason": "stop",
                      "message": {"role": "assistant", "content": rec.completion, "tool_calls": rec.tool_calls,
                                  "reasoning": "thinking"}}
    assert trace["ttft"] == span["ttft"] == 412.5 and "error_info" not in trace
    assert span["type"] == "llm" and span["model"] == "openai/gpt-4o" and span["provider"] == "OpenAI"
    # as Opik's SDK sends an OpenAI-shaped usage: the totals, then the provider's usage flattened under
    # original_usage. (where the cached and reasoning counts are)
    assert span["usage"] == {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
                             "original_usage.prompt_tokens": 1200, "original_usage.completion_tokens": 300,
                             "original_usage.total_tokens": 1500,
                             "original_usage.prompt_tokens_details.cached_tokens": 1024,
                             "original_usage.completion_tokens_details.reasoning_tokens": 0}
    _, written = _docs(full_record(cache_write_tokens=64))
    assert written["usage"]["original_usage.prompt_tokens_details.cache_write_tokens"] == 64
    assert span["total_estimated_cost"] == 0.0075
    meta = span["metadata"]
    assert (meta["input_cost"], meta["output_cost"], meta["total_cost"]) == (0.003, 0.0045, 0.0075)
    assert meta["model_parameters"]["temperature"] == 0.7 and meta["finish_reason"] == "stop"
    assert meta["openrouter_trace_id"] == "t-1" and meta["openrouter_observation_id"] == rec.id
    assert meta["cached_tokens"] == 1024 and meta["streamed"] is True
    assert meta["user_id"] == "spoof"  # custom keys as given: the user is trace metadata only


def test_a_prompt_without_messages_an_error_and_huge_counts():
    rec = full_record(messages=None, prompt="Say hi", completion=None, status="error", error_type="ProviderError",
                      error_message="upstream 502", prompt_tokens=2**31, completion_tokens=None, total_tokens=None)
    trace, span = _docs(rec)
    assert trace["input"] == {"prompt": "Say hi"} and "output" not in trace and "output" not in span
    assert trace["error_info"] == span["error_info"] == {"exception_type": "ProviderError", "message": "upstream 502",
                                                         "traceback": "upstream 502"}
    # Opik keeps Int32 counts: a larger one would fail the whole batch, so only the others go
    assert span["usage"] == {"original_usage.prompt_tokens_details.cached_tokens": 1024,
                             "original_usage.completion_tokens_details.reasoning_tokens": 0}
    _, none = _docs(full_record(prompt_tokens=None, completion_tokens=None, total_tokens=None, cached_tokens=None,
                                reasoning_tokens=None))
    assert "usage" not in none
    _, bare = _docs(full_record(status="error"))
    assert bare["error_info"] == {"exception_type": "error", "traceback": "error"}


def test_the_sender_sends_what_requests_describes():
    # the two requests the sender sends carry exactly the documents render_documents makes
    d = make_destination(config("https://x.example"))
    rec = full_record(4)
    encoder = d.new_encoder()
    encoder.append(rec)
    traces, spans = (json.loads(bytes(r.body)) for r in requests(d, encoder.finish()))
    assert (traces["traces"][0], spans["spans"]) == render_documents(rec, PROJECT, d.id_salt)


def test_the_fake_refuses_a_span_before_its_trace():
    async def main():
        fake = await OpikFake().start()
        try:
            d = make_destination(config(fake.base_url))
            encoder = d.new_encoder()
            encoder.append(full_record(1))
            traces, spans = requests(d, encoder.finish())
            async with aiohttp.ClientSession() as s:
                async with s.post(spans.url, data=bytes(spans.body), headers=dict(spans.headers)) as r:
                    early = r.status
                for req in (traces, spans):
                    async with s.post(req.url, data=bytes(req.body), headers=dict(req.headers)) as r:
                        assert r.status == 204
            return early
        finally:
            await fake.stop()

    assert asyncio.run(main()) == 400
