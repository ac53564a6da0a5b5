"""W&B Weave's call API (``weave`` with ``route: calls``): each record one complete call, as weave's own SDK sends it.

Wire, and what each part rests on (weave 0.54's client, ``weave/trace_server_bindings/remote_http_trace_server.py``
and ``call_batch_processor.py``; W&B Weave Service API, https://docs.wandb.ai/weave/reference/service-api):

- ``POST <baseUrl>/v2/<entity>/<project>/calls/complete`` (entity and project percent-encoded as a path
  segment each, as the SDK's generated client does), ``Authorization: Basic base64(api:<apiKey>)``,
  ``Content-Type: application/json``. Since weave 0.52.26 the SDK's default (``use_calls_complete``) holds
  each call until it ends and sends it whole here; spancast's records are always complete calls. Body::

      {"batch": [{"project_id": "acme/checkout", "id": "<call id>", "trace_id": ..., "op_name": ...,
        "started_at": "2024-11-19T07:06:40.000000Z", "ended_at": ..., "display_name": ..., "parent_id": ...,
        "thread_id": ..., "attributes": {...}, "inputs": {...}, "output": {...}, "summary": {...},
        "exception": ...}, ...]}

  in the SDK's key order (``CallBatchProcessor._create_complete``); absent values are left out where the SDK
  writes null (every one of them is optional in the route's schema, ``v2_call_complete_params.Batch``).
- ``callsComplete: false``: the older wire, for a Weave server without that route (the SDK's
  ``WEAVE_USE_CALLS_COMPLETE=false``): ``POST <baseUrl>/call/upsert_batch`` with a start and an end item per
  record, side by side (``{"batch": [{"mode": "start", "req": {"start": {...}}}, {"mode": "end", "req":
  {"end": {...}}}, ...]}``), the same fields split as ``CallStartParams`` / ``CallEndParams`` split them. A
  project written in the newer mode refuses it (400, ``error_code`` ``CALLS_COMPLETE_MODE_REQUIRED``, which
  makes the SDK switch to calls/complete; here it is a setting, and the connection test's hint says so).
- Answers: 200 (the body is not read); a body Weave cannot validate gets 422 (dropped and counted, like
  every other 4xx but 429), too large a body 413 (the pipeline splits the batch, as Weave's client does:
  ``SPLIT_BATCH_STATUS_CODES`` in ``http_utils.py``).
- Size: Weave's client keeps a request under 32 MiB less 1 MiB of margin
  (``REMOTE_REQUEST_BYTES_LIMIT`` in ``weave/trace_server_bindings/http_utils.py``); so does this route
  (``MAX_BATCH_BYTES``, which the pipeline's lane honours through the destination's ``max_batch_bytes``).
- Compression: Weave's docs do not say the call API takes ``Content-Encoding``; leave ``compression``
  at ``none`` for this route.

Ids. Weave takes as a call id a canonical lowercase UUID (any version; its SDK makes UUIDv7) or a 16-hex
OTel span id, and as a trace id a UUID or a 32-hex OTel trace id (``weave/trace_server/validation.py``).

- ``id``: UUIDv5 of the generation id, so a redelivered record upserts the same call instead of adding one.
- ``trace_id``: ``trace.trace_id`` as it is when Weave takes it (lowercased), so it matches the OTLP
  route's trace and the caller's own OTel traces; any other text becomes a UUIDv5 of it (the same text,
  the same trace). Without a trace id, a UUIDv5 of the generation id: the record is a trace of its own.
- ``parent_id``: ``trace.parent_span_id`` the same way (kept when Weave takes it as a call id, else a
  UUIDv5 of it). Weave lists among the root traces only calls without a parent, so the parent should be
  a call in the same project.

Mapping (OpenRouter's Weave page, https://openrouter.ai/docs/guides/features/broadcast/weave):

  ================  ======================================================================================
  ``op_name``       ``trace.generation_name``, else ``trace.trace_name``, else ``model`` (at most 128
                    characters, Weave's limit; a name Weave would read as a ``weave:///`` ref: ``model``)
  ``display_name``  ``trace.trace_name`` when ``op_name`` is a different generation name (at most 1024
                    characters)
  ``thread_id``     ``session_id``
  ``attributes``    every custom ``trace`` key, then ``openrouter_trace_id`` (``trace.trace_id`` as given),
                    ``openrouter_generation_id``, ``openrouter_parent_span_id``, ``span_name``,
                    ``user_id`` (``user``), ``session_id``, ``provider``, ``streamed``, ``cancelled``;
                    these win over a custom key of the same name
  ``inputs``        ``model``, the model parameters (``temperature``, ``max_tokens``, ``top_p`` and any
                    other), ``messages`` (else ``prompt``)
  ``output``        an OpenAI chat completion: ``{"id", "model", "choices": [{"index": 0, "message":
                    {"role": "assistant", "content", "tool_calls", "reasoning"}, "finish_reason"}],
                    "usage"}`` (Weave shows it as a chat); absent when the record has no completion,
                    tool calls or reasoning
  ``summary``       ``usage``: ``{<model>: {"requests": 1, "prompt_tokens", "completion_tokens",
                    "total_tokens"}}`` (Weave's usage shape, keyed by model); then ``input_cost``,
                    ``output_cost``, ``total_cost`` (USD), ``cached_tokens``, ``cache_write_tokens``,
                    ``reasoning_tokens``, ``latency_ms``, ``time_to_first_token_ms``, ``finish_reason``
  ``exception``     ``"<error_type>: <error_message>"`` (either alone, else ``"error"``) when ``status``
                    is ``"error"``
  ================  ======================================================================================

  Absent values are left out. Times are ISO 8601 UTC with microseconds (the SDK writes ``+00:00``, the
  same instant).
- Privacy mode: the route has already removed the content fields (messages, prompt, completion,
  reasoning, tool_calls), so ``inputs`` holds the model and its parameters only and there is no ``output``;
  nothing else here is derived from content.

Test Connection (``test_payload``) upserts one call named ``spancast-connection-test`` (trace id
``000...0001``). Weave stores it as data: it appears among the project's traces. Its call id is fixed,
so every later test overwrites that one call rather than adding another.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Mapping
from urllib.parse import quote

import orjson

from ..codec.ids import salted
from ..errors import EncodeError
from ..record import TRACE_KEYS
from ._preset import basic_auth, check_json_route, join_url
from ._secret import merge_headers
from .base import Destination, Request
from .events import EventEncoder, trace_text
from .weave import WeaveSettings, check_project

__all__ = ["WeaveCallsDestination", "MAX_BATCH_BYTES", "call_id", "weave_trace_id", "weave_parent_id", "render_calls",
           "render_complete", "render_pair"]

COMPLETE_PATH = "/v2/{entity}/{project}/calls/complete"
UPSERT_PATH = "/call/upsert_batch"
#: The order CallBatchProcessor._create_complete writes a complete call's keys in.
COMPLETE_KEYS = ("project_id", "id", "trace_id", "op_name", "started_at", "ended_at", "display_name", "parent_id",
                 "thread_id", "attributes", "inputs", "output", "summary", "exception")
#: Weave's client: "32 MiB (real limit) - 1 MiB (buffer)".
MAX_BATCH_BYTES = (32 - 1) * 1024 * 1024
MAX_OP_NAME_CHARS = 128
MAX_DISPLAY_NAME_CHARS = 1024
#: uuid5(NAMESPACE_URL, "spancast:weave:call"): fixed forever, or redelivered calls stop matching stored ones.
UUID_NAMESPACE = uuid.UUID("2303b0fc-3c63-5264-ac61-cdd7b1d00b83")
_HEX = frozenset("0123456789abcdef")
_REF_SCHEMES = ("weave:///", "weave-trace-internal:///")  # a string Weave reads as a ref, and validates as one


def iso_us(ns: int) -> str:
    """Unix nanoseconds as ISO 8601 UTC with microseconds (``2024-11-19T07:06:40.123456Z``)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"


def _uuid5(kind: str, text: str, salt: int = 0) -> str:
    return str(uuid.uuid5(UUID_NAMESPACE, salted(f"{kind}:{text}", salt)))


def _as_uuid(text: str) -> str | None:
    """The canonical lowercase form of a UUID written canonically (in any case), else None."""
    try:
        value = str(uuid.UUID(text))
    except ValueError:
        return None
    return value if value == text.lower() else None


def _as_hex(text: str, length: int) -> str | None:
    low = text.lower()
    return low if len(low) == length and set(low) <= _HEX else None


def call_id(generation_id: str, salt: int = 0) -> str:
    """The Weave call id of a generation: UUIDv5 of its id (and the destination's id salt), the same on
    every delivery."""
    return _uuid5("call", generation_id, salt)


def weave_trace_id(trace_id: str | None, generation_id: str, salt: int = 0) -> str:
    """``trace.trace_id`` when Weave takes it as a trace id (32 hex, or a UUID), else a UUIDv5 of it; without
    one, a UUIDv5 of the generation id (salted: spancast.codec.ids)."""
    if trace_id is None:
        return _uuid5("trace-of", generation_id, salt)
    return _as_hex(trace_id, 32) or _as_uuid(trace_id) or _uuid5("trace", trace_id, salt)


def weave_parent_id(parent_span_id: str, salt: int = 0) -> str:
    """``trace.parent_span_id`` when Weave takes it as a call id (16 hex, or a UUID), else a UUIDv5 of it."""
    return _as_hex(parent_span_id, 16) or _as_uuid(parent_span_id) or _uuid5("call", parent_span_id, salt)


def _name(text: str | None, limit: int) -> str | None:
    if not text or text.startswith(_REF_SCHEMES):
        return None
    return text[:limit]


def _put(out: dict[str, Any], pairs) -> dict[str, Any]:
    for key, value in pairs:
        if value is not None:
            out[key] = value
    return out


def render_calls(rec: Any, project_id: str, salt: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """The start and end of one record's call, as dicts (see the module docstring for the mapping)."""
    trace = rec.trace or {}
    if not isinstance(trace, Mapping):
        raise EncodeError("trace", f"expected an object, got {type(trace).__name__}")
    trace_id = trace_text(trace, "trace_id")
    parent = trace_text(trace, "parent_span_id")
    generation_name = trace_text(trace, "generation_name")
    trace_name = trace_text(trace, "trace_name")
    named = _name(generation_name, MAX_OP_NAME_CHARS)
    op_name = named or _name(trace_name, MAX_OP_NAME_CHARS) or rec.model[:MAX_OP_NAME_CHARS]
    # The trace name shows on the call when the op is named after the generation (and differs from it).
    display_name = _name(trace_name, MAX_DISPLAY_NAME_CHARS) if named and trace_name != generation_name else None

    attributes = {key: value for key, value in trace.items() if key not in TRACE_KEYS}
    _put(attributes, (
        ("openrouter_trace_id", trace_id),
        ("openrouter_generation_id", rec.id),
        ("openrouter_parent_span_id", parent),
        ("span_name", trace_text(trace, "span_name")),
        ("user_id", rec.user),
        ("session_id", rec.session_id),
        ("provider", rec.provider),
        ("streamed", rec.streamed),
        ("cancelled", rec.cancelled),
    ))
    inputs: dict[str, Any] = {"model": rec.model}
    for key, value in (rec.model_parameters or {}).items():
        if key not in ("model", "messages", "prompt"):
            inputs[key] = value
    # Content: absent in privacy mode (the route cleared these fields before the record got here).
    if rec.messages is not None:
        inputs["messages"] = rec.messages
    elif rec.prompt is not None:
        inputs["prompt"] = rec.prompt

    identity = call_id(rec.id, salt)
    start = _put({"project_id": project_id, "id": identity, "op_name": op_name}, (
        ("display_name", display_name),
        ("trace_id", weave_trace_id(trace_id, rec.id, salt)),
        ("parent_id", weave_parent_id(parent, salt) if parent else None),
        ("thread_id", rec.session_id),
    ))
    start["started_at"] = iso_us(rec.start_time_ns)
    start["attributes"] = attributes
    start["inputs"] = inputs

    tokens = _put({}, (("prompt_tokens", rec.prompt_tokens), ("completion_tokens", rec.completion_tokens),
                       ("total_tokens", rec.total_tokens)))
    summary: dict[str, Any] = {"usage": {rec.model: {"requests": 1, **tokens}}} if tokens else {}
    _put(summary, (
        ("input_cost", rec.input_cost),
        ("output_cost", rec.output_cost),
        ("total_cost", rec.total_cost),
        ("cached_tokens", rec.cached_tokens),
        ("cache_write_tokens", rec.cache_write_tokens),
        ("reasoning_tokens", rec.reasoning_tokens),
        ("latency_ms", (rec.end_time_ns - rec.start_time_ns) / 1e6),
        ("time_to_first_token_ms", rec.time_to_first_token_ms),
        ("finish_reason", rec.finish_reason),
    ))
    end: dict[str, Any] = {"project_id": project_id, "id": identity, "ended_at": iso_us(rec.end_time_ns)}
    if rec.completion is not None or rec.tool_calls or rec.reasoning is not None:
        message = _put({"role": "assistant", "content": rec.completion}, (
            ("tool_calls", rec.tool_calls or None),
            ("reasoning", rec.reasoning),
        ))
        choice = _put({"index": 0, "message": message}, (("finish_reason", rec.finish_reason),))
        end["output"] = _put({"id": rec.id, "model": rec.response_model or rec.model, "choices": [choice]},
                             (("usage", tokens or None),))
    end["summary"] = summary
    if rec.status == "error":
        end["exception"] = ": ".join(p for p in (rec.error_type, rec.error_message) if p) or "error"
    return start, end


def render_complete(rec: Any, project_id: str, salt: int = 0) -> bytes:
    """One record as a complete call: its start and end merged, keys in the SDK's order."""
    start, end = render_calls(rec, project_id, salt)
    merged = {**start, **end}
    return orjson.dumps({key: merged[key] for key in COMPLETE_KEYS if key in merged})


def render_pair(rec: Any, project_id: str, salt: int = 0) -> bytes:
    """One record as the two batch items (start, end) of its call, comma-separated."""
    start, end = render_calls(rec, project_id, salt)
    return (orjson.dumps({"mode": "start", "req": {"start": start}}) + b","
            + orjson.dumps({"mode": "end", "req": {"end": end}}))


class WeaveCallsDestination(Destination):
    """Complete calls (or start/end pairs) to a Weave project through its call API (``route: calls``, the default)."""

    type = "weave"
    settings_class = WeaveSettings
    secret_headers = frozenset({"wandb-api-key", "authorization"})
    #: The body's encoding, as the OTLP route names its own (read by previews and tests).
    encoding = "json"
    max_batch_bytes = MAX_BATCH_BYTES

    def __init__(self, mapping: Mapping[str, Any], where: str = "destination") -> None:
        super().__init__(mapping, where)
        s = self.settings
        self.project_id = f"{s.entity}/{s.project}"
        self.complete = s.calls_complete
        self.path = UPSERT_PATH if not self.complete else COMPLETE_PATH.format(
            entity=quote(s.entity, safe=""), project=quote(s.project, safe=""))

    def validate(self, where: str) -> None:
        s = self.settings
        check_json_route(s, where, "calls")
        check_project(s, where)

    @property
    def url(self) -> str:
        return join_url(self.settings.base_url, self.path)

    def render(self, rec: Any) -> bytes:
        if self.complete:
            return render_complete(rec, self.project_id, self.id_salt)
        return render_pair(rec, self.project_id, self.id_salt)

    def new_encoder(self, format: str | None = None) -> EventEncoder:
        """A batch encoder: ``{"batch": [`` call, call, ... ``]}`` (upsert: start, end, start, end, ...); format
        ignored: the route sends JSON only. The connection test renders its record with it, as one call."""
        return EventEncoder(self.render, prefix=b'{"batch":[', separator=b",", suffix=b"]}")

    def request(self, body: bytes) -> Request:
        own = {"Authorization": basic_auth("api", self.settings.api_key), "Content-Type": "application/json"}
        return Request("POST", self.url, merge_headers(self.settings.headers, own), body)

    def hint(self, status: int | None, excerpt: str) -> str | None:
        """What a failed test usually means on this route (None: the generic hint)."""
        if "CALLS_COMPLETE_MODE_REQUIRED" in excerpt:
            return ("this Weave project takes complete calls only (a recent Weave SDK wrote to it) and refuses"
                    " /call/upsert_batch: set callsComplete: true (the default)")
        if status == 404:
            where = "<baseUrl>/call/upsert_batch" if not self.complete else (
                "<baseUrl>/v2/<entity>/<project>/calls/complete (a Weave server older than that route:"
                " callsComplete: false)")
            return (f"wrong path or base URL: the calls route posts to {where}, with baseUrl"
                    " https://trace.wandb.ai (Self-Managed: https://<subdomain>.wandb.io/traces)")
        return None

    def __repr__(self) -> str:
        return f"<WeaveCallsDestination name={self.name!r} type=weave project={self.project_id!r}>"
