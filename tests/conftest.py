"""Shared fixtures: both encoder twins, sample records, and the OTLP reference parser."""

from __future__ import annotations

import os
import socket
import time

import pytest

from spancast import Generation, ProviderAttempt
from spancast.codec import implementation

NATIVE_EXPECTED = os.environ.get("SPANCAST_NO_EXTENSIONS", "").lower() not in ("1", "true", "yes", "on")
IMPLS = ["native", "python"] if NATIVE_EXPECTED else ["python"]
# Comparing the twins needs both, and pooled bodies and span sharing are the native one's; a
# SPANCAST_NO_EXTENSIONS=1 build has only the Python twin, so those files are not collected
# there (the default build, which CI runs, always collects them).
collect_ignore = [] if NATIVE_EXPECTED else ["test_codec_twins.py", "test_native_body.py", "test_span_cache.py", "test_json_text.py"]


@pytest.fixture(params=IMPLS)
def impl(request):
    """Each encoder twin in turn (only the Python one in a SPANCAST_NO_EXTENSIONS=1 build)."""
    return implementation(request.param)


@pytest.fixture(params=["protobuf", "json"])
def fmt(request):
    return request.param


def full_record(i: int = 0, **overrides) -> Generation:
    """A realistic chat generation with content, usage, costs, parameters and trace metadata."""
    fields = dict(
        id=f"gen-{1732000000 + i}-abcdef",
        start_time_ns=1_732_000_000_000_000_000 + i * 1_000,
        end_time_ns=1_732_000_001_250_000_000 + i * 1_000,
        model="openai/gpt-4o",
        response_model="gpt-4o-2024-08-06",
        provider="OpenAI",
        finish_reason="stop",
        native_finish_reason="stop",
        prompt_tokens=1200,
        completion_tokens=300,
        cached_tokens=1024,
        reasoning_tokens=0,
        input_cost=0.003,
        output_cost=0.0045,
        total_cost=0.0075,
        time_to_first_token_ms=412.5,
        streamed=True,
        model_parameters={"temperature": 0.7, "max_tokens": 512, "top_p": 1.0, "stop": ["\n\n"]},
        messages=[
            {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
            {"role": "user", "content": 'What is "OTLP"?\nExplain\tplease — with ümlauts and 🚀.'},
        ],
        completion="OTLP is the OpenTelemetry Protocol.",
        user="user-42",
        session_id="sess-7",
        trace={
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "trace_name": "checkout-flow",
            "customer_tier": "gold",
            "retries": 2,
            "ratio": 0.25,
            "flag": True,
            "nested": {"a": [1, 2, {"b": None}]},
        },
        api_key_name="prod-key",
    )
    fields.update(overrides)
    return Generation(**fields)


@pytest.fixture
def record() -> Generation:
    return full_record()


def attempts_record() -> Generation:
    return full_record(
        7,
        status="error",
        error_type="upstream_error",
        error_message="All providers failed",
        trace={"trace_id": "workflow_12345", "parent_span_id": "not-hex", "span_name": "agent-step"},
        provider_attempts=[
            ProviderAttempt(provider="OpenAI", status=503, latency_ms=120.5, error="overloaded"),
            ProviderAttempt(provider="Azure", status=200, latency_ms=300.0),
            ProviderAttempt(provider="Together", status=429),
        ],
    )


def load_contract(kind: str):
    """tests/contract/<type>.py as a module (a dash in the type may be an underscore in the file name),
    or None when the destination has none."""
    import importlib.util
    from pathlib import Path

    for name in (kind, kind.replace("-", "_")):
        path = Path(__file__).resolve().parent / "contract" / f"{name}.py"
        if path.exists():
            spec = importlib.util.spec_from_file_location(f"contract_{name.replace('-', '_')}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    return None


def require_server(name: str, found: str | None, package: str | None = None) -> str:
    """found (the path of a server binary the tests start), or a failure naming how to install it:
    a missing server fails its tests, never skips them."""
    if found is None:
        pytest.fail(f"{name} is not installed: run tests/run, which installs it, or apt-get install {package or name}",
                    pytrace=False)
    return found


def free_port() -> int:
    """A local TCP port nothing listens on now (connecting to it is refused; a server may bind it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_stats(b, condition, timeout_s=30.0):
    """Re-read b.stats() until condition(stats) holds or timeout_s passes; returns the last stats read."""
    deadline = time.monotonic() + timeout_s
    while True:
        stats = b.stats()
        if condition(stats) or time.monotonic() > deadline:
            return stats
