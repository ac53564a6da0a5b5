"""Two destinations on one real backend never collide: Arize Phoenix with two projects, MLflow with two experiments.

A full copy and a privacy-mode copy of the same records go to one Phoenix (two projects) and to one
MLflow server (two experiments). Before spancast derived ids per destination, both copies carried the
same span and trace ids: Phoenix kept whichever arrived first and MLflow filed the trace under the
first experiment and overwrote its spans with the last copy, so prompt text showed up in the privacy
project while every record counted as delivered. Here each project and experiment must hold all of
its own spans, none shared with the other, and the privacy copies no content at all.

Fixtures: the fidelity suite's session servers (``fidelity/conftest.py``, ``fidelity/servers.py``: one
Phoenix and one MLflow per test session, from ``.venv-phoenix`` and ``.venv-mlflow``, shared with the
other fidelity tests), which offer:

``phoenix``
    ``.otlp_url``: Phoenix's OTLP/HTTP traces URL (``http://127.0.0.1:<port>/v1/traces``; protobuf only).
    ``.spans(project: str) -> list[dict]``: the spans of a project as ``GET /v1/projects/{project}/spans``
    returns them (``context.trace_id``, ``context.span_id``, ``name``, flat ``attributes``,
    ``status_message``), every page; ``[]`` for a project that does not exist (yet).

``mlflow``
    ``.otlp_url``: MLflow's OTLP/HTTP traces URL (``http://127.0.0.1:<port>/v1/traces``).
    ``.experiment(name: str) -> str``: creates an experiment, returns its id.
    ``.traces(experiment_id: str) -> list[dict]``: every trace of the experiment as
    ``{"info": <the trace as POST /api/3.0/mlflow/traces/search lists it>, "spans": <its spans as
    GET /api/3.0/mlflow/traces/get returns them>}`` (MLflow writes span ids in base64).

Both backends take spans asynchronously (Phoenix through a queue), so the test waits for a condition
under a deadline, never for a fixed time. The spans each destination sent are read from spancast's own
preview of the same records (whatever span tree the encoders write), so the test checks ids, not counts.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

from spancast import Broadcaster, Generation, ProviderAttempt

CONTENT = "CONFIDENTIAL-PROMPT-7Q2W"  # in messages, completion and error messages: only full copies may hold it
DEADLINE_S = 60.0


def records(run: str) -> list[Generation]:
    """Records whose ids spancast derives: no trace id, a trace id that is not hex, an intermediate span,
    provider attempts (four spans for the second and third), an error. Fresh ids per run: a backend keeps
    what earlier runs sent."""
    now = time.time_ns()
    common = dict(start_time_ns=now - 2_000_000_000, end_time_ns=now - 1_000_000_000, model="openai/gpt-4o-mini",
                  provider="OpenAI", prompt_tokens=12, completion_tokens=3, total_cost=0.00002,
                  messages=[{"role": "user", "content": f"{CONTENT}: what is 2+2?"}], completion=f"4 ({CONTENT})",
                  user="user-7", session_id=f"sess-{run}")
    return [
        Generation(id=f"gen-{run}-a", **common),
        Generation(id=f"gen-{run}-b", trace={"trace_id": f"workflow-{run}", "span_name": "agent-step"},
                   provider_attempts=[ProviderAttempt(provider="Azure", status=503, latency_ms=20.0,
                                                      error=f"overloaded: {CONTENT}"),
                                      ProviderAttempt(provider="OpenAI", status=200, latency_ms=300.0)], **common),
        Generation(id=f"gen-{run}-c", status="error", error_type="invalid_request_error",
                   error_message=f"flagged: {CONTENT}", trace={"span_name": "guard"},
                   provider_attempts=[ProviderAttempt(provider="OpenAI", status=400, error=f"bad: {CONTENT}")],
                   **common),
    ]


def deliver(destinations: list[dict], batch: list[Generation]) -> dict[str, set[str]]:
    """Send the batch to every destination; for each, the (hex) span ids it sent, from its preview."""
    with Broadcaster(destinations) as b:
        for record in batch:
            b.emit(record)
        assert b.flush(30)
        stats = b.stats()["destinations"]
        sent = {}
        for d in b.destinations:
            shown = [b.preview(record, d.name)["body"] for record in batch]
            sent[d.name] = {s["spanId"] for doc in shown for rs in doc["resourceSpans"] for ss in rs["scopeSpans"]
                            for s in ss["spans"]}
    for name, s in stats.items():
        assert s["delivered"] == len(batch) and s["dropped"] == {}, (name, s)
    return sent


def wait_for(read, done, what: str):
    """read() until done(result), under DEADLINE_S; the last result."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        result = read()
        if done(result):
            return result
        assert time.monotonic() < deadline, f"{what}: still {result!r:.300} after {DEADLINE_S:.0f}s"
        time.sleep(0.25)  # polling a backend that ingests asynchronously, under the deadline above


def test_phoenix_projects_keep_their_own_spans_and_the_private_one_no_content(phoenix):
    run = uuid.uuid4().hex[:12]
    full, private = f"spancast-full-{run}", f"spancast-private-{run}"
    destinations = [
        {"type": "otel-collector", "name": name, "endpoint": phoenix.otlp_url, "flavor": "openinference",
         "resource": {"openinference.project.name": name}, "privacy_mode": name == private}
        for name in (full, private)
    ]
    sent = deliver(destinations, records(run))
    assert sent[full].isdisjoint(sent[private])
    spans = {name: wait_for(lambda n=name: phoenix.spans(n), lambda got, n=name: len(got) >= len(sent[n]), name)
             for name in (full, private)}
    for name, got in spans.items():  # every span it was sent, and none of the other's
        assert {s["context"]["span_id"] for s in got} == sent[name] and len(got) == len(sent[name]), name
    assert CONTENT in json.dumps(spans[full])  # the full copy holds the content ...
    assert CONTENT not in json.dumps(spans[private])  # ... the privacy copy none of it


def test_mlflow_experiments_keep_their_own_traces_and_the_private_one_no_content(mlflow):
    run = uuid.uuid4().hex[:12]
    experiments = {name: mlflow.experiment(f"spancast-{name}-{run}") for name in ("full", "private")}
    destinations = [
        {"type": "otel-collector", "name": f"{name}-{run}", "endpoint": mlflow.otlp_url, "flavor": "openinference",
         "headers": {"x-mlflow-experiment-id": experiment}, "privacy_mode": name == "private"}
        for name, experiment in experiments.items()
    ]
    sent = deliver(destinations, records(run))
    sent = {name: sent[f"{name}-{run}"] for name in experiments}

    def span_ids(got: list[dict]) -> set[str]:
        return {base64.b64decode(s["span_id"]).hex() for t in got for s in t["spans"]}

    traces = {name: wait_for(lambda e=experiment: mlflow.traces(e), lambda got, n=name: span_ids(got) >= sent[n], name)
              for name, experiment in experiments.items()}
    for name, got in traces.items():  # every span it was sent, and none of the other's
        assert span_ids(got) == sent[name] and sum(len(t["spans"]) for t in got) == len(sent[name]), name
    trace_ids = {n: {t["info"]["trace_id"] for t in got} for n, got in traces.items()}
    assert len(trace_ids["full"]) == len(records(run)) and trace_ids["full"].isdisjoint(trace_ids["private"])
    assert CONTENT in json.dumps(traces["full"])
    assert CONTENT not in json.dumps(traces["private"])
