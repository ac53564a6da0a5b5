"""PostHog (``posthog``): one ``$ai_generation`` event per record, many per request, through the batch capture API.

Settings, as OpenRouter names them: ``apiKey`` (required: the project API key, ``phc_...``; a personal
key, ``phx_...``, is refused), ``endpoint`` (default ``https://us.i.posthog.com``; EU Cloud
``https://eu.i.posthog.com``, or a self-hosted or reverse-proxy host), ``headers``. ``baseUrl`` is
accepted for ``endpoint`` (one or the other).

Wire, and what each part rests on:

- ``POST <endpoint>/batch/``, ``Content-Type: application/json``, body
  ``{"api_key": "<apiKey>", "batch": [<event>, ...]}``. The key travels **in the body**; there is no
  auth header. PostHog, "Capture and batch API endpoints" (https://posthog.com/docs/api/capture):
  each event needs ``event`` and ``distinct_id``; ``properties`` and ``timestamp`` (ISO 8601) are
  optional; a batch body must stay under 20 MB, so ``max_batch_bytes`` is 19 MB.
- Each event: ``{"event": "$ai_generation", "distinct_id", "properties", "timestamp", "uuid"}``.
  ``timestamp`` is the generation's start (milliseconds, UTC). ``uuid`` is PostHog's event id, here a
  UUIDv5 of the generation id and the destination's id salt (``spancast.codec.ids``): the same record
  always gets the same uuid from one destination, so a redelivered batch carries the same events rather
  than new ones, and two destinations on one project never fold into one event.
- Properties (PostHog, "Manual capture", https://posthog.com/docs/llm-analytics/manual-capture, and
  OpenRouter's PostHog page, https://openrouter.ai/docs/guides/features/broadcast/posthog):

  ====================================  =================================================================
  ``$ai_trace_id``                      ``trace.trace_id``; without one, the generation id
  ``$ai_span_id``                       the generation id (the contract suite reads it back)
  ``$ai_span_name``                     ``trace.generation_name``
  ``trace_name``                        ``trace.trace_name`` (a plain property, as OpenRouter sends it)
  ``metadata_<key>``                    every other ``trace`` key (``span_name`` and ``parent_span_id``
                                        included); nested objects are flattened into
                                        ``metadata_<key>_<sub>...`` and capped at three levels: a value
                                        that would sit deeper becomes the string ``'[truncated]'``
  ``$ai_session_id``                    ``session_id``
  ``$ai_model`` / ``$ai_provider``      ``model`` / ``provider``
  ``$ai_input_tokens``, ``$ai_output_tokens``, ``$ai_cache_read_input_tokens``,
  ``$ai_cache_creation_input_tokens``, ``$ai_reasoning_tokens``
                                        ``prompt_tokens``, ``completion_tokens``, ``cached_tokens``,
                                        ``cache_write_tokens``, ``reasoning_tokens``
  ``$ai_input_cost_usd``, ``$ai_output_cost_usd``, ``$ai_total_cost_usd``
                                        the record's costs (PostHog then does not price the call itself)
  ``$ai_latency``                       end - start, in **seconds**
  ``$ai_time_to_first_token``           ``time_to_first_token_ms`` / 1000 (seconds)
  ``$ai_stream``                        ``streamed``
  ``$ai_temperature``, ``$ai_max_tokens``, ``$ai_model_parameters``
                                        from ``model_parameters``
  ``$ai_stop_reason``                   ``finish_reason``
  ``$ai_is_error``, ``$ai_error``       ``status == "error"`` (always sent), ``error_message`` (else ``error_type``)
  ``$ai_input``                         ``messages`` (or ``[{"role": "user", "content": prompt}]``)
  ``$ai_output_choices``                ``[{"role": "assistant", "content": completion, "tool_calls": ...}]``
  ====================================  =================================================================

  ``reasoning`` text has no PostHog property and is not sent.
- ``distinct_id``: ``user``. Without one, the ``$ai_trace_id`` value (the trace id, else the generation
  id) with ``$process_person_profile: false``, which is what PostHog's own AI SDKs do: the fallback is
  stable for a record, and PostHog creates no person profile for it.
- Privacy mode: the route has already removed the content fields, so ``$ai_input`` and
  ``$ai_output_choices`` are absent; nothing else is derived from content.

The project API key is not a secret in PostHog's model: PostHog calls ``/batch`` and ``/i/v0/e``
"public POST-only endpoints" that "do not return any sensitive data", used with the same project key
every browser sends with its events (https://posthog.com/docs/api). It is still typed
:class:`~spancast.destinations.base.Secret`, so settings reprs, logs and errors show ``'***'`` (as
OpenRouter masks it), but it is part of the body by protocol: previews and golden files show it.

Test Connection (``test_payload``) sends one ``$ai_generation`` event named ``spancast-connection-test``
(trace id ``000...0001``, no person profile). PostHog treats it as data: it appears among the
project's generations, and can be filtered out by ``$ai_span_name``.
"""

from __future__ import annotations

import functools
import uuid
from typing import Annotated, Any, Mapping

import msgspec
import orjson

from ..codec.ids import salted
from ..errors import ConfigError, EncodeError
from ._secret import merge_headers
from .base import CommonSettings, Destination, Request, Secret
from .events import EventEncoder, iso_ms, trace_text
from .otlp import check_url

__all__ = ["PostHogSettings", "PostHogDestination", "DEFAULT_URL", "event_uuid", "flatten_metadata"]

DEFAULT_URL = "https://us.i.posthog.com"
BATCH_PATH = "/batch/"
#: ``trace`` keys with a property of their own; every other key becomes ``metadata_<key>``.
MAPPED_TRACE_KEYS = frozenset({"trace_id", "trace_name", "generation_name"})
MAX_METADATA_LEVELS = 3
TRUNCATED = "[truncated]"
#: The namespace of the events' UUIDv5 (uuid5(NAMESPACE_URL, "spancast:posthog:generation")): fixed forever,
#: or redelivered events would stop matching the ones already stored.
UUID_NAMESPACE = uuid.UUID("d6f0c612-3e01-59c2-a8c2-0bad4814b879")


class PostHogSettings(CommonSettings, kw_only=True, forbid_unknown_fields=True):
    api_key: Annotated[Secret, msgspec.Meta(
        description="PostHog project API key (phc_...), sent in the body; personal keys (phx_...) refused",
    )]
    endpoint: Annotated[str | None, msgspec.Meta(
        description="PostHog host: EU https://eu.i.posthog.com, self-hosted or a proxy (none: US cloud)",
    )] = None
    # the same as endpoint, under the name the other destinations use
    base_url: Annotated[str | None, msgspec.Meta(
        description="the same setting as endpoint, under another name: give one or the other",
    )] = None


def event_uuid(generation_id: str, salt: int = 0) -> str:
    """The PostHog event uuid of a generation: UUIDv5 of its id (and the id salt), the same on every delivery."""
    return str(uuid.uuid5(UUID_NAMESPACE, salted(generation_id, salt)))


def _capped(value: Any, level: int) -> Any:
    """A value at nesting level ``level`` (1 = a trace key's own value) with anything below level 3 cut."""
    if isinstance(value, dict) and value:
        if level >= MAX_METADATA_LEVELS:
            return TRUNCATED
        return {str(k): _capped(v, level + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and value:
        if level >= MAX_METADATA_LEVELS:
            return TRUNCATED
        return [_capped(v, level + 1) for v in value]
    return value


def _flatten(out: dict[str, Any], name: str, value: Any, level: int) -> None:
    if isinstance(value, dict) and value:
        if level >= MAX_METADATA_LEVELS:
            out[name] = TRUNCATED
            return
        for key, item in value.items():
            _flatten(out, f"{name}_{key}", item, level + 1)
    else:
        out[name] = _capped(value, level)


def flatten_metadata(trace: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``metadata_<key>`` properties of a record's custom trace keys.

    Objects are flattened into the property name (``{"a": {"b": 1}}`` -> ``metadata_a_b``) down to
    three levels; a non-empty object or array at the third level, or anything deeper, becomes
    ``'[truncated]'`` (``{"a": {"b": {"c": 1}}}`` -> ``metadata_a_b_c = 1``, but
    ``{"a": {"b": {"c": {"d": 1}}}}`` -> ``metadata_a_b_c = '[truncated]'``)."""
    out: dict[str, Any] = {}
    for key, value in (trace or {}).items():
        if key not in MAPPED_TRACE_KEYS:
            _flatten(out, f"metadata_{key}", value, 1)
    return out


def render_event(rec: Any, salt: int = 0) -> dict[str, Any]:
    """The ``$ai_generation`` event of one record, as a dict (see the module docstring for the mapping)."""
    trace = rec.trace or {}
    if not isinstance(trace, Mapping):
        raise EncodeError("trace", f"expected an object, got {type(trace).__name__}")
    trace_id = trace_text(trace, "trace_id") or rec.id
    props: dict[str, Any] = flatten_metadata(trace)
    props["$ai_trace_id"] = trace_id
    props["$ai_span_id"] = rec.id
    generation_name = trace_text(trace, "generation_name")
    if generation_name:
        props["$ai_span_name"] = generation_name
    trace_name = trace_text(trace, "trace_name")
    if trace_name:
        props["trace_name"] = trace_name
    if rec.session_id:
        props["$ai_session_id"] = rec.session_id
    props["$ai_model"] = rec.model
    optional = (
        ("$ai_provider", rec.provider),
        ("$ai_input_tokens", rec.prompt_tokens),
        ("$ai_output_tokens", rec.completion_tokens),
        ("$ai_cache_read_input_tokens", rec.cached_tokens),
        ("$ai_cache_creation_input_tokens", rec.cache_write_tokens),
        ("$ai_reasoning_tokens", rec.reasoning_tokens),
        ("$ai_input_cost_usd", rec.input_cost),
        ("$ai_output_cost_usd", rec.output_cost),
        ("$ai_total_cost_usd", rec.total_cost),
        ("$ai_stream", rec.streamed),
        ("$ai_stop_reason", rec.finish_reason),
    )
    for name, value in optional:
        if value is not None:
            props[name] = value
    props["$ai_latency"] = (rec.end_time_ns - rec.start_time_ns) / 1e9
    if rec.time_to_first_token_ms is not None:
        props["$ai_time_to_first_token"] = rec.time_to_first_token_ms / 1000
    params = rec.model_parameters
    if params:
        for key, name in (("temperature", "$ai_temperature"), ("max_tokens", "$ai_max_tokens")):
            if params.get(key) is not None:
                props[name] = params[key]
        props["$ai_model_parameters"] = params
    props["$ai_is_error"] = rec.status == "error"  # always, as PostHog's own SDK sends it
    if rec.status == "error":
        error = rec.error_message or rec.error_type
        if error:
            props["$ai_error"] = error
    # Content: absent in privacy mode (the route cleared these fields before the record got here).
    if rec.messages is not None:
        props["$ai_input"] = rec.messages
    elif rec.prompt is not None:
        props["$ai_input"] = [{"role": "user", "content": rec.prompt}]
    if rec.completion is not None or rec.tool_calls:
        choice: dict[str, Any] = {"role": "assistant", "content": rec.completion or ""}
        if rec.tool_calls:
            choice["tool_calls"] = rec.tool_calls
        props["$ai_output_choices"] = [choice]
    if not rec.user:
        props["$process_person_profile"] = False
    return {
        "event": "$ai_generation",
        "distinct_id": rec.user or trace_id,
        "properties": props,
        "timestamp": iso_ms(rec.start_time_ns),
        "uuid": event_uuid(rec.id, salt),
    }


#: PostHog refuses ordinary events over about 1 MB (spec 3.11): longer content is cut to fit.
MAX_EVENT_BYTES = 1_000_000
MARKER = " [truncated]"


def fit(event: dict[str, Any], limit: int = MAX_EVENT_BYTES) -> bytes:
    """The event's JSON, its longest message texts cut (with MARKER, and ``$ai_truncated: true``) until
    it is at most ``limit`` bytes. Only copies are cut: the messages belong to the record, which other
    destinations still read. Past the content, the event goes as it is."""
    data = orjson.dumps(event)
    over = len(data) - limit
    if over <= 0:
        return data
    props = event["properties"]
    texts: list[dict[str, Any]] = []
    for name in ("$ai_input", "$ai_output_choices"):
        if isinstance(props.get(name), list):
            props[name] = [dict(m) if isinstance(m, dict) else m for m in props[name]]
            texts += [m for m in props[name] if isinstance(m, dict) and isinstance(m.get("content"), str)]
    props["$ai_truncated"] = True
    over += len(b',"$ai_truncated":true')
    for message in sorted(texts, key=lambda m: len(m["content"]), reverse=True):
        if over <= 0:
            break
        text = message["content"]
        size = len(orjson.dumps(text))
        keep = len(text) * max(size - over - len(MARKER) - 2, 0) // max(size, 1)
        while keep and len(orjson.dumps(text[:keep])) + len(MARKER) > size - over:
            keep = keep * 9 // 10  # a JSON escape can take several bytes a character
        message["content"] = text[:keep] + MARKER
        over -= size - len(orjson.dumps(message["content"]))
    return orjson.dumps(event)


def render(rec: Any, salt: int = 0) -> bytes:
    """One record as the JSON of one batch event, cut to PostHog's 1 MB when larger."""
    return fit(render_event(rec, salt))


def batch_url(base: str) -> str:
    """``<base>/batch/``; a base that already ends with ``/batch`` gets only the slash."""
    base = base.rstrip("/")
    return base + "/" if base.endswith("/batch") else base + BATCH_PATH


class PostHogDestination(Destination):
    """``$ai_generation`` events to a PostHog project through ``/batch/``."""

    type = "posthog"
    settings_class = PostHogSettings
    #: PostHog: "the entire request body must be less than 20MB by default".
    max_batch_bytes = 19_000_000

    def validate(self, where: str) -> None:
        s = self.settings
        if s.endpoint is not None and s.base_url is not None:
            raise ConfigError(f"{where}.baseUrl", "give endpoint or baseUrl, not both (they are the same setting)")
        key = "baseUrl" if s.base_url is not None else "endpoint"
        check_url(self.base_url, f"{where}.{key}")
        api_key = s.api_key
        if not api_key.strip() or any(c.isspace() or ord(c) < 0x20 for c in api_key):
            raise ConfigError(f"{where}.apiKey", "expected the project API key (phc_...): non-empty, no spaces")
        if api_key.startswith("phx_"):
            raise ConfigError(f"{where}.apiKey", "this is a personal API key (phx_...), which grants admin access:"
                                                 " use the project API key (phc_...) from the project settings")

    @property
    def base_url(self) -> str:
        s = self.settings
        return s.base_url if s.base_url is not None else s.endpoint if s.endpoint is not None else DEFAULT_URL

    @property
    def url(self) -> str:
        return batch_url(self.base_url)

    def new_encoder(self, format: str | None = None) -> EventEncoder:
        """A batch encoder: ``{"api_key": ..., "batch": [`` events ``]}`` (format: JSON only, ignored)."""
        prefix = b'{"api_key":' + orjson.dumps(str(self.settings.api_key)) + b',"batch":['
        return EventEncoder(functools.partial(render, salt=self.id_salt), prefix=prefix, separator=b",", suffix=b"]}")

    def request(self, body: bytes) -> Request:
        return Request("POST", self.url, merge_headers(self.settings.headers, {"Content-Type": "application/json"}), body)

