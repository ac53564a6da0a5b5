"""Fidelity against real servers: Arize Phoenix and MLflow 3 show the records as their own UIs read them.

Each route (a destination type, or the generic collector with its default gen_ai flavour pointed at the
server) delivers the same realistic records (fidelity/records.py) through a Broadcaster, reads them back
through the server's API, and compares what the server shows with what the records say (fidelity/shown.py).
What a server cannot show is named with its reason, and checked to be as said.
"""

from __future__ import annotations

import uuid

import pytest

from fidelity.records import scenario
from fidelity.servers import mlflow_experiment, mlflow_traces, phoenix_costs, phoenix_spans, wait_for
from fidelity.shown import compare, expected
from fidelity.views import mlflow_view, phoenix_view
from spancast import Broadcaster

COMMON = ("name", "parent", "trace_name", "model", "input", "output", "tool_calls", "tool_results", "user",
          "session", "metadata", "error", "error_message", "trace_error")
USAGE_ALL = ("input", "output", "total", "cached", "reasoning", "cache_write")


def deliver(destination: dict, records: list) -> None:
    with Broadcaster([destination], max_batch_records=64) as b:
        for rec in records:
            assert b.emit(rec)
        assert b.flush(30)
        stats = b.stats()["destinations"][destination["name"]]
    assert stats["delivered"] == len(records) and stats["dropped"] == {}, stats


def usage_problems(shown, records, keys) -> list[str]:
    problems = []
    for rec in records:
        want = {k: v for k, v in expected(rec, records).usage.items() if k in keys}
        have = {k: v for k, v in shown[rec.id].usage.items() if k in keys}
        if have != want:
            problems.append(f"{rec.id} usage: shows {have}, the record says {want}")
    return problems


PHOENIX_ROUTES = {
    # type phoenix: the openinference flavour, the project in x-project-name
    "phoenix": lambda server, project: {"type": "phoenix", "name": "phx", "endpoint": server.base_url,
                                        "project": project},
    # the generic collector with its defaults (gen_ai flavour, protobuf), as a user would point it at Phoenix
    "otel-collector": lambda server, project: {"type": "otel-collector", "name": "phx", "endpoint":
                                               server.base_url + "/v1/traces", "headers": {"x-project-name": project}},
}


@pytest.mark.parametrize("route", sorted(PHOENIX_ROUTES))
def test_phoenix_shows_every_generation_as_the_records_say(phoenix, route):
    run = uuid.uuid4().hex[:10]
    records = scenario(run)
    project = f"fidelity-{route}-{run}"
    deliver(PHOENIX_ROUTES[route](phoenix, project), records)
    # Phoenix ingests in the background: wait until every generation is readable
    spans = wait_for(f"Phoenix project {project} holding {len(records)} generations",
                     lambda: (lambda got: got if len(phoenix_view(got, {})) == len(records) else None)(
                         phoenix_spans(phoenix, project)), 60)
    costs = phoenix_costs(phoenix, [s["id"] for s in spans if s["span_kind"] == "LLM"])
    shown = phoenix_view(spans, costs)
    checked = COMMON if route == "phoenix" else tuple(f for f in COMMON if f != "model")
    assert compare(shown, records, checked) == []
    # Phoenix maps reasoning tokens from OpenInference only (its gen_ai conversion reads in, out and cache)
    keys = USAGE_ALL if route == "phoenix" else ("input", "output", "total", "cached", "cache_write")
    assert usage_problems(shown, records, keys) == []
    if route == "otel-collector":  # the GenAI conventions name the requested model (gen_ai.request.model)
        assert {s.model for s in shown.values()} == {"openai/gpt-4o"}
    # Phoenix prices spans from its own model table: no provided cost reaches its cost column (arize-phoenix
    # 20.26 server/cost_tracking has no path for it). What it shows is its estimate, never the record's.
    assert all(shown[r.id].cost != r.total_cost for r in records if r.total_cost)
    assert any(shown[r.id].cost for r in records)


def test_phoenix_keeps_records_whose_trace_id_is_empty_apart(phoenix):
    """trace_id "" groups nothing and parent_span_id "" names no span (every renderer reads them as absent):
    two such records are two traces in Phoenix, each a generation without a parent, not one trace that every
    record without an id would share under a root drawn for it."""
    from conftest import full_record

    run = uuid.uuid4().hex[:10]
    records = [full_record(i, id=f"gen-empty-{run}-{i}", trace={"trace_id": "", "parent_span_id": ""})
               for i in range(2)]
    project = f"fidelity-empty-{run}"
    deliver(PHOENIX_ROUTES["otel-collector"](phoenix, project), records)
    spans = wait_for(f"Phoenix project {project} holding 2 spans",
                     lambda: (lambda got: got if len(got) >= 2 else None)(phoenix_spans(phoenix, project)), 60)
    assert len(spans) == 2, [s["name"] for s in spans]
    assert len({s["context"]["trace_id"] for s in spans}) == 2
    assert not any(s.get("parent_id") for s in spans)


MLFLOW_ROUTES = {
    # type mlflow: the mlflow flavour (MLflow's own span attributes)
    "mlflow": lambda server, experiment: {"type": "mlflow", "name": "mlf", "trackingUri": server.base_url,
                                          "experimentId": experiment},
    # the generic collector with its defaults (gen_ai flavour, protobuf)
    "otel-collector": lambda server, experiment: {"type": "otel-collector", "name": "mlf", "endpoint":
                                                  server.base_url + "/v1/traces",
                                                  "headers": {"x-mlflow-experiment-id": experiment}},
}


@pytest.mark.parametrize("route", sorted(MLFLOW_ROUTES))
def test_mlflow_shows_every_generation_as_the_records_say(mlflow, route):
    run = uuid.uuid4().hex[:10]
    records = scenario(run)
    experiment = mlflow_experiment(mlflow, f"fidelity-{route}-{run}")
    deliver(MLFLOW_ROUTES[route](mlflow, experiment), records)
    shown = mlflow_view(mlflow_traces(mlflow, experiment))
    assert compare(shown, records, COMMON + ("cost",)) == []
    # MLflow's token usage has no reasoning count (mlflow.tracing.constant.TokenUsageKey)
    assert usage_problems(shown, records, ("input", "output", "total", "cached", "cache_write")) == []
