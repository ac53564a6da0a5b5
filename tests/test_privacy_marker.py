"""Privacy mode sends no byte of free text: a marker in every text of a record, nested anywhere, reaches no destination.

Hypothesis draws records whose every string that may hold the user's or the model's text
(``record.TEXT_FIELDS``: messages at any depth and in object keys, prompt, completion, reasoning,
tool calls, error messages, provider attempts' errors, model parameters' strings, tool descriptions
and schemas, JSON schemas, object keys below the top) holds MARKER, around arbitrary text. What
privacy mode keeps (``record.METADATA_FIELDS``, parameter names, tool names; the generation metadata
groups too, which every destination here asks for) is drawn from lower-case letters and digits, which
never spell MARKER. Every destination type, in privacy mode, with its
requests compressed with none, gzip or zstd in turn, receives them through the real pipeline
(``Broadcaster``) and through ``spancast serve`` (a subprocess, records POSTed over HTTP); the
marker must be in no byte any receiver got: raw or decompressed body, headers, path.

The examples are bounded (MAX_EXAMPLES per path, a few records each): every example goes to 22
destinations, through real sockets.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import string
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import load_contract
from redisserver import RedisServer
from sinkthread import SinkThread
from spancast import Broadcaster, Generation, ProviderAttempt
from spancast.record import GenerationContext, GenerationCost, GenerationIdentity
from spancast.destinations import REGISTRY
from spancast.testing.sink import Expect, OtlpSink

MARKER = "QZXMARKERXZQ"
MAX_EXAMPLES = 40
HTTP_TYPES = sorted(t for t, cls in REGISTRY.items() if cls.transport == "http")
COMPRESSIONS = ("none", "gzip", "zstd")
#: The compressions a type takes, where not all (S3 stores objects as sent: the store gunzips nothing else).
TAKES = {"s3": ("none", "gzip")}
# Loaded once: a contract may make its credentials when loaded (BigQuery's key pair), and the fake checks those.
CONTRACTS = {kind: load_contract(kind) for kind in HTTP_TYPES}

# ---------------------------------------------------------------- records

meta = st.text(alphabet=string.ascii_lowercase + string.digits + "-_ ", min_size=1, max_size=16)
ident = st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True)
around = st.text(max_size=6)  # any text: quotes, backslashes, control characters, emoji
marked = st.builds(lambda a, b: a + MARKER + b, around, around)
marked_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | marked,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(marked, kids, max_size=3),
    max_leaves=6,
)
PNG = base64.b64encode(b"\x89PNG" + bytes(range(64))).decode()
part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": marked}),
    st.fixed_dictionaries({"type": st.just("image_url"),
                           "image_url": st.fixed_dictionaries({"url": st.just(f"data:image/png;base64,{PNG}")})}),
    st.dictionaries(marked, marked_json, min_size=1, max_size=2),
)
tool_call = st.fixed_dictionaries({"id": marked, "type": st.just("function"),
                                   "function": st.fixed_dictionaries({"name": marked, "arguments": marked})})
message = st.builds(
    lambda fixed, extra: {**extra, **fixed},
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "tool"])},
                          optional={"content": marked | st.lists(part, max_size=3), "name": marked,
                                    "tool_calls": st.lists(tool_call, max_size=2), "tool_call_id": marked}),
    st.dictionaries(marked, marked_json, max_size=1),
)
schema = st.fixed_dictionaries({"type": st.just("object"), "properties": st.dictionaries(
    marked, st.fixed_dictionaries({"type": st.just("string"), "description": marked}), max_size=2)})
tool = st.fixed_dictionaries({"type": st.just("function"), "function": st.fixed_dictionaries(
    {"name": ident, "description": marked, "parameters": schema})})
parameters = st.fixed_dictionaries({}, optional={
    "temperature": st.floats(0, 2), "max_tokens": st.integers(1, 4096), "seed": st.integers(0, 2**31),
    "stop": marked | st.lists(marked, max_size=2),
    "tools": st.lists(tool, max_size=2),
    "functions": st.lists(st.fixed_dictionaries({"name": ident, "description": marked, "parameters": schema}), max_size=1),
    "response_format": st.fixed_dictionaries({"type": st.just("json_schema"), "json_schema": st.fixed_dictionaries(
        {"name": marked, "schema": schema})}),
    "tool_choice": st.sampled_from(["auto", "none", "required"]) | st.fixed_dictionaries(
        {"type": st.just("function"), "function": st.fixed_dictionaries({"name": ident, "description": marked})}),
    "metadata": st.dictionaries(marked, marked_json, max_size=2),
    "prediction": st.fixed_dictionaries({"type": st.just("content"), "content": marked}),
    "reasoning": st.fixed_dictionaries({"effort": st.sampled_from(["low", "high"])}, optional={"note": marked}),
    "reasoning_effort": st.sampled_from(["low", "medium"]) | marked,
    "user": marked,
    "extra_body": marked_json,
})
attempt = st.builds(ProviderAttempt, provider=meta, status=st.none() | st.integers(100, 599),
                    latency_ms=st.none() | st.floats(0, 10_000), error=st.none() | marked)
# The generation metadata groups (issue 14): numbers, flags and who called, metadata privacy mode keeps; every
# destination below asks for all three, so each renders them beside the marked text.
cost = st.builds(GenerationCost, upstream_cost=st.none() | st.floats(0, 10), byok_cost=st.none() | st.floats(0, 10),
                 is_byok=st.none() | st.booleans(), cache_cost=st.none() | st.floats(-1, 1),
                 web_search_cost=st.none() | st.floats(0, 1))
identity = st.builds(GenerationIdentity, app_name=st.none() | meta, app_url=st.none() | meta,
                     external_user=st.none() | meta)
context = st.builds(GenerationContext, router_latency_ms=st.none() | st.floats(0, 1000),
                    provider_latency_ms=st.none() | st.floats(0, 10_000), provider_ttft_ms=st.none() | st.floats(0, 1000),
                    region=st.none() | meta)
trace = st.none() | st.fixed_dictionaries({}, optional={
    "trace_id": meta, "trace_name": meta, "span_name": meta, "generation_name": meta, "parent_span_id": meta,
    "environment": meta, "customer": meta, "count": st.integers(0, 100)})


@st.composite
def records(draw) -> Generation:
    now = time.time_ns()  # Datadog refuses records older than a day
    start = now - draw(st.integers(0, 10**9))
    opt = lambda s: st.none() | s  # noqa: E731
    status = draw(st.sampled_from(["ok", "error"]))
    return Generation(
        id=f"gen-{draw(st.uuids()).hex}", start_time_ns=start, end_time_ns=now, model=draw(meta),
        response_model=draw(opt(meta)), provider=draw(opt(meta)), status=status,
        error_type=draw(opt(meta)), error_message=draw(opt(marked)), finish_reason=draw(opt(meta)),
        prompt_tokens=draw(opt(st.integers(0, 10**6))), completion_tokens=draw(opt(st.integers(0, 10**6))),
        total_cost=draw(opt(st.floats(0, 100))), time_to_first_token_ms=draw(opt(st.floats(0, 10**4))),
        streamed=draw(opt(st.booleans())), model_parameters=draw(opt(parameters)),
        messages=draw(opt(st.lists(message, min_size=1, max_size=3))), prompt=draw(opt(marked)),
        completion=draw(opt(marked)), reasoning=draw(opt(marked)),
        tool_calls=draw(opt(st.lists(tool_call, min_size=1, max_size=2))),
        user=draw(opt(meta)), session_id=draw(opt(meta)), trace=draw(trace), api_key_name=draw(opt(meta)),
        provider_attempts=draw(opt(st.lists(attempt, min_size=1, max_size=2))),
        cache_write_5m_tokens=draw(opt(st.integers(0, 10**6))), cache_write_1h_tokens=draw(opt(st.integers(0, 10**6))),
        web_search_requests=draw(opt(st.integers(0, 10))), generation_cost=draw(opt(cost)),
        generation_identity=draw(opt(identity)), generation_context=draw(opt(context)),
    )


def test_the_records_drawn_hold_the_marker_in_every_text_field():
    """The strategy itself: every TEXT field carries the marker in some draws, metadata in none, and the
    generation metadata groups and counts issue 14 added are set in some (every destination renders them)."""
    from spancast.record import METADATA_FIELDS, TEXT_FIELDS

    marked_fields: set[str] = set()
    set_fields: set[str] = set()

    @given(records())
    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def draw(record):
        for name in TEXT_FIELDS:
            if MARKER in json.dumps(msgspec.to_builtins(getattr(record, name))):
                marked_fields.add(name)
        assert all(MARKER not in json.dumps(msgspec.to_builtins(getattr(record, f))) for f in METADATA_FIELDS)
        set_fields.update(f for f in METADATA_FIELDS if getattr(record, f) is not None)

    draw()
    assert marked_fields == set(TEXT_FIELDS)
    assert {"generation_cost", "generation_identity", "generation_context", "cache_write_5m_tokens",
            "cache_write_1h_tokens", "web_search_requests"} <= set_fields


# ---------------------------------------------------------------- every destination type, privacy mode on


def destination_settings(base: Path, sinks: dict, redis_url: str) -> list[dict]:
    out = []
    groups = {"broadcastGenerationCost": True, "broadcastGenerationIdentity": True,
              "broadcastGenerationRequestContext": True}
    for i, kind in enumerate(HTTP_TYPES):
        takes = TAKES.get(kind, COMPRESSIONS)
        settings = CONTRACTS[kind].config(sinks[kind].base_url, privacyMode=True,
                                              compression=takes[i % len(takes)], **groups)
        out.append(settings)
    out.append({"type": "file", "directory": str(base / "files"), "privacyMode": True, **groups})
    out.append({"type": "redis", "url": redis_url, "stream": "marker", "privacyMode": True, **groups})
    return out


def contract_sink(kind: str) -> OtlpSink:
    c = CONTRACTS[kind]
    prefix = getattr(c, "PATH_PREFIX", None)
    return OtlpSink(Expect(path=prefix + "*" if prefix else c.PATH, method=c.METHOD,
                           content_types=frozenset({c.CONTENT_TYPE}), auth=c.check_auth,
                           decode=None if c.BODY == "otlp" else c.decode))


class Backends:
    """One receiver per HTTP type (the contract's fake of its backend), a file directory, a redis-server."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.stack = contextlib.ExitStack()
        self.sinks = {kind: self.stack.enter_context(SinkThread(contract_sink(kind))) for kind in HTTP_TYPES}
        self.redis = RedisServer(base).start()
        self.stack.callback(self.redis.stop)
        self.seen = {kind: 0 for kind in HTTP_TYPES}

    def settings(self) -> list[dict]:
        return destination_settings(self.base, self.sinks, self.redis.url)

    def new_bytes(self) -> list[tuple[str, bytes]]:
        """Everything received since the last call: (where, bytes) for each request's parts, the file, the stream."""
        out = []
        for kind, sink in self.sinks.items():
            assert sink.problems == [], (kind, sink.problems)
            for r in sink.received[self.seen[kind]:]:
                head = "\n".join(f"{k}: {v}" for k, v in r.headers.items()).encode()
                out += [(kind, r.raw), (kind, r.body), (kind, head), (kind, r.path_qs.encode())]
            self.seen[kind] = len(sink.received)
        out += [("file", p.read_bytes()) for p in sorted((self.base / "files").glob("*"))]
        out += [("redis", fields[b"record"]) for _, fields in self.redis.client().xrange("marker")]
        return out

    def close(self) -> None:
        self.stack.close()


def assert_clean(received: list[tuple[str, bytes]]) -> None:
    leaked = sorted({where for where, data in received if MARKER.encode() in data})
    assert not leaked, f"the marker reached {leaked}"


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    b = Backends(tmp_path_factory.mktemp("marker"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def pipeline(backends):
    with Broadcaster(backends.settings(), flush_interval_s=0.05) as b:
        yield b


@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])
@given(batch=st.lists(records(), min_size=1, max_size=4, unique_by=lambda r: r.id))
def test_no_marker_reaches_any_destination_through_the_pipeline(pipeline, backends, batch):
    before = {name: s["delivered"] for name, s in pipeline.stats()["destinations"].items()}
    for record in batch:
        pipeline.emit(record)
    assert pipeline.flush(30)
    stats = pipeline.stats()["destinations"]
    for name, s in stats.items():  # every record went everywhere: nothing was left out or refused
        assert s["delivered"] - before[name] == len(batch) and s["dropped"] == {}, (name, s)
    assert_clean(backends.new_bytes())


# ---------------------------------------------------------------- through spancast serve


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: the same escapes
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items() if v is not None) + "}"


@pytest.fixture(scope="module")
def serve(backends, tmp_path_factory):
    base = tmp_path_factory.mktemp("serve")
    lines = ["[pipeline]", "flush_interval_s = 0.05"]
    for settings in backends.settings():
        lines.append("[[destinations]]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in settings.items() if v is not None]
    config = base / "spancast.toml"
    config.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "spancast.cli", "serve", "--config", str(config), "--port", "0"],
                            stderr=subprocess.PIPE, text=True, cwd=base)
    url = None
    for line in proc.stderr:  # the announcement names the port it got
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            url = found.group(1)
            break
    assert url, f"serve exited with {proc.wait()} before announcing itself"
    yield url
    proc.terminate()
    assert proc.wait(30) == 0


def settled(metrics: str) -> dict[str, int]:
    """Per destination, the records delivered or dropped so far, from /metrics."""
    out: dict[str, int] = {}
    for name, labels, value in re.findall(r"^spancast_records_(delivered|dropped)_total\{([^}]*)\} (\S+)$", metrics, re.M):
        destination = re.search(r'destination="([^"]*)"', labels).group(1)
        out[destination] = out.get(destination, 0) + int(float(value))
    return out


async def post_and_wait(url: str, batch: list[Generation], expected: int) -> dict[str, int]:
    body = b"\n".join(msgspec.json.encode(r) for r in batch)
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/v1/generations", data=body,
                                headers={"Content-Type": "application/x-ndjson"}) as resp:
            assert resp.status == 202 and (await resp.json())["accepted"] == len(batch)
        deadline = time.monotonic() + 30
        while True:  # until every destination settled every record posted so far (or the deadline says why not)
            async with session.get(url + "/metrics") as resp:
                counts = settled(await resp.text())
            if counts and all(n >= expected for n in counts.values()) or time.monotonic() > deadline:
                return counts
            await asyncio.sleep(0.05)  # polling /metrics for a condition, under the deadline above


@settings(max_examples=MAX_EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                               HealthCheck.data_too_large])
@given(batch=st.lists(records(), min_size=1, max_size=4, unique_by=lambda r: r.id))
def test_no_marker_reaches_any_destination_through_spancast_serve(serve, backends, batch):
    test_no_marker_reaches_any_destination_through_spancast_serve.posted += len(batch)
    expected = test_no_marker_reaches_any_destination_through_spancast_serve.posted
    counts = asyncio.run(post_and_wait(serve, batch, expected))
    assert len(counts) == len(HTTP_TYPES) + 2 and all(n == expected for n in counts.values()), counts
    assert_clean(backends.new_bytes())


test_no_marker_reaches_any_destination_through_spancast_serve.posted = 0
