"""Raindrop (``raindrop``): one AI event per record, a JSON array of them per request, to the track events API.

Settings, as OpenRouter names them: ``writeKey`` (required; the project's SDK write key, a
credential), ``baseUrl`` (default ``https://api.raindrop.ai``; Raindrop's own docs write the base as
``https://api.raindrop.ai/v1``, which is accepted too), ``headers``.

Wire, and what each part rests on (Raindrop, "HTTP API", https://www.raindrop.ai/docs/sdk/http-api;
its Python SDK for ``event_id`` and ``timestamp``, https://raindrop.ai/docs/sdk/python):

- ``POST <baseUrl>/v1/events/track``, ``Authorization: Bearer <writeKey>``,
  ``Content-Type: application/json``; the body is a JSON **array** of events. Raindrop answers 204.
- Each event::

      {"event_id": <generation id>, "user_id": ..., "event": ..., "timestamp": <start, ISO 8601 UTC>,
       "properties": {...}, "ai_data": {"model", "input", "output", "convo_id"}}

  ``event_id`` is the generation id, so a redelivered event names the same event. ``ai_data`` must
  carry ``input`` or ``output`` (or both) when present; a record with neither (privacy mode) is sent
  without ``ai_data``, its ``convo_id`` then among the properties.
- Mapping (OpenRouter's Raindrop page, https://openrouter.ai/docs/guides/features/broadcast/raindrop):

  ==================  ============================================================================
  ``user_id``         ``user``; without one, the trace id, else the generation id (stable per record)
  ``event``           ``trace.generation_name``, else ``llm_generation``
  ``ai_data.input``   the **latest user message** (its text parts joined by newlines), else ``prompt``
  ``ai_data.output``  the completion text (a tool-call-only answer: its ``tool_calls`` as JSON)
  ``ai_data.model``   ``model``
  ``convo_id``        ``session_id``
  properties          every ``trace`` key as it is (``trace_id``, ``trace_name`` and custom keys), then
                      the system properties ``model``, ``provider``, ``total_cost``,
                      ``prompt_tokens``, ``completion_tokens``, ``duration_ms``, ``finish_reason``,
                      and beside them ``total_tokens``, ``cached_tokens``, ``reasoning_tokens``,
                      ``input_cost``, ``output_cost``, ``time_to_first_token_ms``, ``status``,
                      ``error_type``, ``error_message``; a system property wins over a trace key of
                      the same name. Absent values are left out.
  ==================  ============================================================================

- Size: Raindrop takes events up to 1 MB. An event whose JSON is larger is **cut, not dropped**: the
  longest text fields (``ai_data.input``, ``ai_data.output``, then large property values) are
  shortened and end with `` [truncated]``, and the property ``truncated_fields`` lists what was cut.
- Privacy mode: the route has already removed the content fields, so ``input`` and ``output`` (and
  with them ``ai_data``) are absent.

Test Connection (``test_payload``) sends one event named ``spancast-connection-test`` (trace id
``000...0001``). Raindrop treats it as data: it appears among the project's events.
"""

from __future__ import annotations

from typing import Annotated, Any, Mapping

import msgspec
import orjson

from ..errors import ConfigError, EncodeError
from ._secret import check_header_value, merge_headers
from .base import CommonSettings, Destination, Request, Secret
from .events import EventEncoder, iso_ms, trace_text
from .otlp import check_url

__all__ = ["RaindropSettings", "RaindropDestination", "DEFAULT_URL", "MAX_EVENT_BYTES", "latest_user_text"]

DEFAULT_URL = "https://api.raindrop.ai"
TRACK_PATH = "/v1/events/track"
DEFAULT_EVENT = "llm_generation"
#: Raindrop: "Event has a limit of 1 MB".
MAX_EVENT_BYTES = 1_000_000
MARKER = " [truncated]"


class RaindropSettings(CommonSettings, kw_only=True, forbid_unknown_fields=True):
    write_key: Annotated[Secret, msgspec.Meta(
        description="the Raindrop project's SDK write key (sent as a Bearer token)",
    )]
    base_url: Annotated[str, msgspec.Meta(description="Raindrop API URL; /v1/events/track is appended")] = DEFAULT_URL


def content_text(content: Any) -> str | None:
    """A chat message's content as text: a string as is, the text parts of a part list joined by newlines."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return orjson.dumps(content).decode()


def latest_user_text(messages: list[dict[str, Any]] | None) -> str | None:
    """The text of the last ``role: user`` message, or None when there is none."""
    for message in reversed(messages or ()):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return None


def render_event(rec: Any) -> dict[str, Any]:
    """The track event of one record, as a dict, before any size cut (see the module docstring)."""
    trace = rec.trace or {}
    if not isinstance(trace, Mapping):
        raise EncodeError("trace", f"expected an object, got {type(trace).__name__}")
    props: dict[str, Any] = dict(trace)
    system = (
        ("model", rec.model),
        ("provider", rec.provider),
        ("total_cost", rec.total_cost),
        ("prompt_tokens", rec.prompt_tokens),
        ("completion_tokens", rec.completion_tokens),
        ("duration_ms", (rec.end_time_ns - rec.start_time_ns) / 1e6),
        ("finish_reason", rec.finish_reason),
        ("total_tokens", rec.total_tokens),
        ("cached_tokens", rec.cached_tokens),
        ("reasoning_tokens", rec.reasoning_tokens),
        ("input_cost", rec.input_cost),
        ("output_cost", rec.output_cost),
        ("time_to_first_token_ms", rec.time_to_first_token_ms),
        ("status", rec.status),
        ("error_type", rec.error_type),
        ("error_message", rec.error_message),
    )
    for name, value in system:
        if value is not None:
            props[name] = value
    # Content: absent in privacy mode (the route cleared these fields before the record got here).
    text_in = latest_user_text(rec.messages)
    if text_in is None:
        text_in = rec.prompt
    text_out = rec.completion
    if text_out is None and rec.tool_calls:
        text_out = orjson.dumps(rec.tool_calls).decode()
    event: dict[str, Any] = {
        "event_id": rec.id,
        "user_id": rec.user or trace_text(trace, "trace_id") or rec.id,
        "event": trace_text(trace, "generation_name") or DEFAULT_EVENT,
        "timestamp": iso_ms(rec.start_time_ns),
        "properties": props,
    }
    if text_in is not None or text_out is not None:
        ai: dict[str, Any] = {"model": rec.model}
        if text_in is not None:
            ai["input"] = text_in
        if text_out is not None:
            ai["output"] = text_out
        if rec.session_id:
            ai["convo_id"] = rec.session_id
        event["ai_data"] = ai
    elif rec.session_id:
        props["convo_id"] = rec.session_id
    return event


def _json_len(value: Any) -> int:
    return len(orjson.dumps(value))


def fit(event: dict[str, Any], limit: int = MAX_EVENT_BYTES) -> bytes:
    """The event's JSON, at most ``limit`` bytes when its text can be cut that far.

    The longest field is cut first (``ai_data.input``, ``ai_data.output`` and every property are
    candidates; a property that is not text is cut as its JSON text), by the bytes still over, and
    ends with the marker; then the next longest, while the event is still over.
    ``properties.truncated_fields`` names what was cut. Past that, the event goes as it is
    (Raindrop cuts properties itself)."""
    data = orjson.dumps(event)
    if len(data) <= limit:
        return data
    props = event["properties"] = dict(event["properties"])
    ai = event.get("ai_data")
    if ai is not None:
        ai = event["ai_data"] = dict(ai)
    fields: list[tuple[str, dict[str, Any], str]] = []  # (name shown, holder, key)
    if ai is not None:
        fields += [(f"ai_data.{k}", ai, k) for k in ("input", "output") if isinstance(ai.get(k), str)]
    fields += [(f"properties.{k}", props, k) for k in props if k != "truncated_fields"]
    cut: list[str] = []
    done: set[str] = set()  # cut's names, for membership tests (cut itself is kept in order)
    props["truncated_fields"] = cut
    marker_bytes = len(MARKER.encode())
    # Every field is measured once, longest first; the bytes still over are then counted down as
    # fields are cut, rather than the event re-serialised per cut (quadratic in the number of keys).
    sizes = sorted(((_json_len(holder[key]), n, name, holder, key) for n, (name, holder, key) in enumerate(fields)),
                   reverse=True)
    for _pass in range(2):  # the count is exact but for the truncated_fields list: a second pass mops up
        data = orjson.dumps(event)
        over = len(data) - limit
        for size, _, name, holder, key in sizes:
            if over <= 0 or size <= marker_bytes + 2:  # done, or what is left is too short to be worth a cut
                break
            if name in done:
                continue
            value = holder[key]
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            # The cut text's JSON (quotes included) plus the marker and the name in truncated_fields must
            # take `over` bytes less than the field takes now.
            name_bytes = len(orjson.dumps(name)) + 1
            target = size - over - marker_bytes - name_bytes
            keep = 0
            if target > 2:
                keep = len(text) * target // max(_json_len(text), 1)
                while keep > 0 and (n := _json_len(text[:keep])) > target:
                    keep -= n - target  # each character is at least one byte of JSON
            holder[key] = text[: max(keep, 0)] + MARKER
            cut.append(name)
            done.add(name)
            over -= size - _json_len(holder[key]) - name_bytes
        data = orjson.dumps(event)
        if len(data) <= limit:
            return data
        sizes = sorted(((_json_len(holder[key]), n, name, holder, key) for n, (name, holder, key) in enumerate(fields)
                        if name not in done), reverse=True)
    return data  # as small as cutting can make it: Raindrop cuts the rest itself


def render(rec: Any) -> bytes:
    """One record as the JSON of one track event, cut to Raindrop's 1 MB when larger."""
    return fit(render_event(rec))


def track_url(base: str) -> str:
    """``<base>/v1/events/track``; a base ending in ``/v1`` (as Raindrop writes it) or in the full path gets
    only what is missing."""
    base = base.rstrip("/")
    if base.endswith(TRACK_PATH):
        return base
    if base.endswith("/v1"):
        return base + "/events/track"
    return base + TRACK_PATH


class RaindropDestination(Destination):
    """AI events to a Raindrop project through ``/v1/events/track``."""

    type = "raindrop"
    settings_class = RaindropSettings

    def validate(self, where: str) -> None:
        check_url(self.settings.base_url, f"{where}.baseUrl")
        check_header_value(self.settings.write_key, f"{where}.writeKey")
        if self.settings.write_key.strip() != self.settings.write_key:
            raise ConfigError(f"{where}.writeKey", "must not start or end with spaces")

    @property
    def url(self) -> str:
        return track_url(self.settings.base_url)

    def new_encoder(self, format: str | None = None) -> EventEncoder:
        """A batch encoder: a JSON array of events (format: JSON only, ignored)."""
        return EventEncoder(render, prefix=b"[", separator=b",", suffix=b"]")

    def request(self, body: bytes) -> Request:
        own = {"Authorization": Secret("Bearer " + self.settings.write_key), "Content-Type": "application/json"}
        return Request("POST", self.url, merge_headers(self.settings.headers, own), body)

