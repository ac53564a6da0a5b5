"""Datadog (``datadog``): LLM Observability spans, many per request, to the Spans API of the account's site.

Settings: ``apiKey`` (required; a Datadog API key, a credential), ``mlApp`` (required; the LLM
application's name: lowercase, letters, digits and ``_ - : . /``, at most 193 characters, no
doubled or trailing underscore), ``site`` (default ``datadoghq.com``; ``us3.datadoghq.com``,
``us5.datadoghq.com``, ``datadoghq.eu``, ``ap1.datadoghq.com``, ``ap2.datadoghq.com``,
``uk1.datadoghq.com``, or the short names ``us1``/``us3``/``us5``/``eu``/``ap1``/``ap2``/``uk1``; an
``app.`` prefix copied from the browser is dropped), ``baseUrl`` (optional: a full base URL instead
of the site's, for a proxy or a test receiver; OpenRouter's ``url`` is accepted as the same setting;
only one of ``site``/``baseUrl``/``url``), ``maxAgeS`` (see below), ``headers``. The default site is
US5, as OpenRouter's form defaults to ``https://api.us5.datadoghq.com`` (so a destination pasted from
OpenRouter without a URL goes where it went there); a key from another site is refused (403), which
Test Connection reports.

Wire, and what each part rests on (Datadog, "HTTP API Reference" for LLM Observability,
https://docs.datadoghq.com/llm_observability/instrumentation/api/):

- ``POST https://api.<site>/api/intake/llm-obs/v1/trace/spans``, headers ``DD-API-KEY: <apiKey>`` and
  ``Content-Type: application/json``; Datadog answers 202 with an empty body. LLM Observability is
  not offered on the US1-FED/gov sites, so those are refused when the settings are read.
- Body: ``{"data": {"type": "span", "attributes": {"ml_app": <mlApp>, "tags": ["service:<mlApp>"],
  "spans": [...]}}}``, as many spans per request as fit in ``max_batch_bytes`` = 5 MiB (Datadog's own
  SDK, dd-trace, caps a payload at 5 MiB against an intake limit of about 5.1 MB).
- The span tree, as dd-trace's ``LLMObs.workflow()`` / ``task()`` / ``llm()`` nest (and as the OTLP encoders
  draw it, README "The span tree"): a record that names its trace (``trace.trace_name``) or shares it
  (``trace.trace_id``) gets a ``workflow`` root span named ``trace_name``, else the model; its span id comes
  from the trace id, so every record of the trace hangs under the same root, which Datadog's trace list
  shows by its name. A request carries each root once: a later record of the same trace widens the root's
  start and duration to cover it and marks it ``error`` if it failed (dd-trace's workflow fails when a call
  in it raised). No root is drawn under ``trace.parent_span_id`` (the caller's span is in a trace that has
  its root already) nor when the generation bears the trace's name (it is the root then). Under the root,
  ``trace.span_name`` is a ``task`` span (a ``workflow`` when it is the trace's top span), then one ``llm``
  span per record::

      {"name", "span_id", "trace_id", "parent_id", "start_ns", "duration", "status", "session_id",
       "tags": ["user_id:<user>"], "meta": {...}, "metrics": {...}}

  ``name``: ``trace.generation_name``, else the model (as OpenRouter documents the default). The root and
  the ``span_name`` span carry ``meta.kind``, the ids, times, status, ``session_id`` and the user tag only:
  the messages, tokens and costs are the ``llm`` span's (Datadog sums a trace's from its llm spans).
  Ids are derived as the OTLP destinations derive them (``spancast.codec``'s hash, with this
  destination's salt, ``spancast.codec.ids``):
  ``trace_id`` the 32-hex trace id (``trace.trace_id`` when it is one, else a hash of it, or of the
  generation id without one; the original then in ``metadata.original_trace_id``), ``span_id`` the
  generation span's 64-bit id in decimal (as dd-trace writes span ids), ``parent_id`` the decimal of
  ``trace.parent_span_id`` (16 hex digits, else hashed; ``metadata.original_parent_span_id``), or the
  literal ``"undefined"`` for a root, as the API asks; the trace root's span id, the decimal of
  ``spancast.codec``'s root id for the trace. ``duration`` is in nanoseconds.
- ``meta``: ``kind: "llm"``; ``input.messages`` (``[{role, content}]``, text parts joined; a
  completion's ``prompt`` as one user message) and ``output.messages`` (the completion, or a
  tool-call-only answer's ``tool_calls`` as JSON text): LLM spans take messages, not ``value``;
  ``model_name``, ``model_provider``; ``error {message, type}`` on an error; ``metadata``: the
  generation id (``generation_id``), ``trace_name``, ``response_model``, ``finish_reason``,
  ``streamed``, the model parameters
  (``temperature``, ``max_tokens``, ...), and every custom ``trace`` key (OpenRouter: other trace
  keys go to the span's meta). Metadata values are strings, numbers or booleans: objects and arrays
  are sent as their JSON text.
- ``metrics``: ``input_tokens``, ``output_tokens``, ``total_tokens``, ``time_to_first_token``
  (seconds), the cache and reasoning counts under dd-trace's names ``cache_read_input_tokens``,
  ``cache_write_input_tokens``, ``reasoning_output_tokens``, and the costs ``input_cost``/``output_cost``/
  ``total_cost`` (USD), which Datadog shows over its own estimate (dd-trace's ``_constants.py``; its SDK
  sends them as metrics too).
- Tags: ``service:<mlApp>`` for the whole payload, ``user_id:<user>`` per span (OpenRouter's two
  automatic tags); ``session_id`` per span.
- A span whose JSON passes 1 MB (Datadog's per-event limit) keeps its metadata and metrics but its
  messages are replaced by a note, with ``metadata.dropped_io = true``, as dd-trace does.
- **Age**: the API "accepts spans with timestamps no more than 24 hours old". A record that started
  longer ago than ``maxAgeS`` (default 24 h less 5 minutes, the margin for time spent in the queue and
  in retries) is refused when it is encoded: :class:`RecordTooOld`, an EncodeError the pipeline counts
  as a drop rather than sending a span Datadog would refuse. ``maxAgeS: null`` turns the check off,
  for a proxy or test receiver that takes any age.
- Privacy mode: the route has already removed the content fields, so the messages are absent.

Test Connection (``test_payload``) sends one ``llm`` span named ``spancast-connection-test`` (trace id
``000...0001``) and passes on a 2xx. Datadog treats it as data: it appears in the application's traces.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, ClassVar, Mapping

import msgspec
import orjson

from ..codec.ids import SEED_PARENT, SEED_ROOT, SEED_SPAN_GEN, SEED_SPAN_MID, SEED_TRACE_HI, SEED_TRACE_LO, hash64
from ..codec.values import draws_trace_root
from ..errors import ConfigError, EncodeError
from ..probe import test_record
from ._secret import check_header_value, merge_headers
from .base import CommonSettings, Destination, Payload, Request, Secret
from .events import EventEncoder, trace_text
from .otlp import check_url

__all__ = ["DatadogSettings", "DatadogDestination", "DatadogEncoder", "RecordTooOld", "SITES", "site_host",
           "DEFAULT_MAX_AGE_S", "render_tree", "render_spans"]

SPANS_PATH = "/api/intake/llm-obs/v1/trace/spans"
DEFAULT_SITE = "us5.datadoghq.com"  # OpenRouter's default (spec 3.5), not Datadog's own (US1)
#: The sites that offer LLM Observability (Datadog's site list), by the name in their app URL.
SITES = ("datadoghq.com", "us3.datadoghq.com", "us5.datadoghq.com", "datadoghq.eu", "ap1.datadoghq.com",
         "ap2.datadoghq.com", "uk1.datadoghq.com")
SHORT_SITES = {"us1": "datadoghq.com", "us3": "us3.datadoghq.com", "us5": "us5.datadoghq.com", "eu": "datadoghq.eu",
               "eu1": "datadoghq.eu", "ap1": "ap1.datadoghq.com", "ap2": "ap2.datadoghq.com", "uk1": "uk1.datadoghq.com"}
GOV_SITES = ("ddog-gov.com", "us2.ddog-gov.com")
MAX_AGE_S = 24 * 3600  # Datadog's limit
DEFAULT_MAX_AGE_S = MAX_AGE_S - 300  # less a margin for the queue and retries
MAX_SPAN_BYTES = 1_000_000
DROPPED_IO = "[This value was dropped: the span is over Datadog's 1 MB limit]"
ML_APP_CHARS = frozenset("_-:./")
_HEX = frozenset("0123456789abcdefABCDEF")


class RecordTooOld(EncodeError):
    """A record older than Datadog takes (its start more than ``max_age_s`` ago): refused, not sent."""

    #: How the pipeline counts it (a reason of its own in DestinationStats.dropped, not invalid_record).
    drop_reason = "too_old"

    def __init__(self, age_s: float, max_age_s: float) -> None:
        self.age_s = age_s
        self.max_age_s = max_age_s
        super().__init__("start_time_ns", f"started {age_s / 3600:.1f} h ago; Datadog takes spans at most"
                                          f" {MAX_AGE_S // 3600} h old (limit here {max_age_s:g} s)")

    def __reduce__(self):  # EncodeError's own pickling would pass (field, reason) back to __init__
        return (type(self), (self.age_s, self.max_age_s))


class DatadogSettings(CommonSettings, kw_only=True, forbid_unknown_fields=True):
    api_key: Annotated[Secret, msgspec.Meta(
        description="Datadog API key (DD-API-KEY) of the organisation on that site",
    )]
    ml_app: Annotated[str, msgspec.Meta(
        description="LLM Observability application name: lowercase letters, digits, _ - : . / (at most 193)",
    )]
    site: Annotated[str | None, msgspec.Meta(
        description="Datadog site, e.g. datadoghq.com, datadoghq.eu or us3 (none: us5.datadoghq.com)",
    )] = None
    base_url: Annotated[str | None, msgspec.Meta(
        description="a full base URL instead of the site's (proxy, test receiver); one of site, base_url, url",
    )] = None
    url: Annotated[str | None, msgspec.Meta(
        description="OpenRouter's name for base_url, e.g. https://api.us5.datadoghq.com",
    )] = None
    max_age_s: Annotated[float | None, msgspec.Meta(
        description="records that started more than this many seconds ago are dropped (Datadog: 24 h); none: off",
    )] = DEFAULT_MAX_AGE_S


def site_host(site: str, where: str = "site") -> str:
    """The API host of a Datadog site (``us5.datadoghq.com`` -> ``api.us5.datadoghq.com``)."""
    name = site.strip().lower().rstrip("/")
    for prefix in ("https://", "http://", "app.", "api."):
        name = name.removeprefix(prefix)
    name = SHORT_SITES.get(name, name)
    if name in GOV_SITES or name == "gov":
        raise ConfigError(where, f"LLM Observability is not available on {site!r} (Datadog's US1-FED/gov sites)")
    if name not in SITES:
        raise ConfigError(where, f"unknown Datadog site {site!r}; known: {', '.join(SITES)}")
    return "api." + name


def _is_hex(text: str, n: int) -> bool:
    return len(text) == n and all(c in _HEX for c in text) and any(c != "0" for c in text)


def trace_id_of(rec: Any, trace: Mapping[str, Any], salt: int = 0) -> tuple[str, str | None]:
    """(the 32-hex trace id, the original trace id when it had to be hashed)."""
    given = trace_text(trace, "trace_id")
    if given is not None and _is_hex(given, 32):
        return given.lower(), None
    source = (given if given is not None else rec.id).encode()
    hashed = hash64(source, SEED_TRACE_HI ^ salt).to_bytes(8, "big") + hash64(source, SEED_TRACE_LO ^ salt).to_bytes(8, "big")
    return hashed.hex(), given


def parent_id_of(trace: Mapping[str, Any], salt: int = 0) -> tuple[str, str | None]:
    """(the decimal parent span id or ``"undefined"``, the original when it had to be hashed)."""
    given = trace_text(trace, "parent_span_id")
    if given is None:
        return "undefined", None
    if _is_hex(given, 16):
        return str(int(given, 16)), None
    return str(hash64(given.encode(), SEED_PARENT ^ salt)), given


def _content(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return orjson.dumps(content).decode()


def _meta_value(value: Any) -> Any:
    """A metadata value as Datadog takes it: a string, number or boolean (anything else as JSON text)."""
    if isinstance(value, (str, bool, int, float)):
        return value
    return orjson.dumps(value).decode()


def render_tree(rec: Any, salt: int = 0) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """One record as span dicts: (its trace's workflow root, or None when none is drawn; [the span of
    ``span_name``], the llm span). See the module docstring for when a root is drawn."""
    trace = rec.trace or {}
    if not isinstance(trace, Mapping):
        raise EncodeError("trace", f"expected an object, got {type(trace).__name__}")
    trace_id, original_trace = trace_id_of(rec, trace, salt)
    parent, original_parent = parent_id_of(trace, salt)
    gen_id = rec.id.encode()
    start, duration = rec.start_time_ns, rec.end_time_ns - rec.start_time_ns
    common: dict[str, Any] = {"trace_id": trace_id, "start_ns": start, "duration": duration}
    if rec.session_id:
        common["session_id"] = rec.session_id
    tags = [f"user_id:{rec.user}"] if rec.user else []
    if tags:
        common["tags"] = tags
    failed = rec.status == "error"
    gen_name = trace_text(trace, "generation_name") or rec.model
    trace_name = trace_text(trace, "trace_name")
    # The codec's rule, so Datadog shows the tree the OTLP destinations draw.
    root = None
    if draws_trace_root(trace_name, trace_text(trace, "trace_id"), trace_text(trace, "parent_span_id"), gen_name):
        root_id = str(hash64(bytes.fromhex(trace_id), SEED_ROOT ^ salt))
        root = {"name": trace_name or rec.model, "span_id": root_id, "parent_id": "undefined", **common,
                "status": "error" if failed else "ok", "meta": {"kind": "workflow"}, "metrics": {}}
        parent = root_id
    spans: list[dict[str, Any]] = []
    span_name = trace_text(trace, "span_name")
    if span_name:
        mid = str(hash64(gen_id, SEED_SPAN_MID ^ salt))
        # A task inside a trace (dd-trace's LLMObs.task()); the trace's top span is a workflow, as its roots are.
        kind = "workflow" if parent == "undefined" else "task"
        spans.append({"name": span_name, "span_id": mid, "parent_id": parent, **common, "status": "ok",
                      "meta": {"kind": kind}, "metrics": {}})
        parent = mid

    metadata: dict[str, Any] = {}
    for key, value in trace.items():
        if key not in ("trace_id", "parent_span_id", "span_name", "generation_name") and value is not None:
            metadata[key] = _meta_value(value)
    for key, value in (rec.model_parameters or {}).items():
        if value is not None:
            metadata[key] = _meta_value(value)
    system = (
        ("generation_id", rec.id),
        ("response_model", rec.response_model),
        ("finish_reason", rec.finish_reason),
        ("streamed", rec.streamed),
        ("cancelled", rec.cancelled),
        ("original_trace_id", original_trace),
        ("original_parent_span_id", original_parent),
    )
    for key, value in system:
        if value is not None:
            metadata[key] = value

    meta: dict[str, Any] = {"kind": "llm", "model_name": rec.model}
    if rec.provider:
        meta["model_provider"] = rec.provider
    # Content: absent in privacy mode (the route cleared these fields before the record got here).
    if rec.messages is not None:
        meta["input"] = {"messages": [
            {"role": str(m.get("role") or "user"), "content": _content(m.get("content"))}
            for m in rec.messages if isinstance(m, dict)
        ]}
    elif rec.prompt is not None:
        meta["input"] = {"messages": [{"role": "user", "content": rec.prompt}]}
    if rec.completion is not None or rec.tool_calls:
        text = rec.completion if rec.completion is not None else orjson.dumps(rec.tool_calls).decode()
        meta["output"] = {"messages": [{"role": "assistant", "content": text}]}
    if rec.status == "error":
        meta["error"] = {"message": rec.error_message or "Provider returned error", "type": rec.error_type or "error"}
    meta["metadata"] = metadata

    metrics: dict[str, Any] = {}
    for name, value in (
        ("input_tokens", rec.prompt_tokens),
        ("output_tokens", rec.completion_tokens),
        ("total_tokens", rec.total_tokens),
        ("cache_read_input_tokens", rec.cached_tokens),
        ("cache_write_input_tokens", rec.cache_write_tokens),
        ("reasoning_output_tokens", rec.reasoning_tokens),
        # Costs are metrics, in USD: Datadog shows them instead of its own estimate from the token counts
        # (dd-trace 4.16 ddtrace/llmobs/_constants.py INPUT/OUTPUT/TOTAL_COST_METRIC_KEY); in metadata they
        # were only text to read, and the cost view showed Datadog's price-list estimate, or nothing.
        ("input_cost", rec.input_cost),
        ("output_cost", rec.output_cost),
        ("total_cost", rec.total_cost),
    ):
        if value is not None:
            metrics[name] = value
    if rec.time_to_first_token_ms is not None:
        metrics["time_to_first_token"] = rec.time_to_first_token_ms / 1000

    span = {"name": gen_name, "span_id": str(hash64(gen_id, SEED_SPAN_GEN ^ salt)), "parent_id": parent, **common,
            "status": "error" if failed else "ok", "meta": meta, "metrics": metrics}
    spans.append(span)
    return root, spans


def render_spans(rec: Any, salt: int = 0) -> list[dict[str, Any]]:
    """Every span of one record, as dicts: [its trace's root], [the span of ``span_name``], the llm span."""
    root, spans = render_tree(rec, salt)
    return spans if root is None else [root, *spans]


class DatadogEncoder(EventEncoder):
    """The spans request of one batch, each trace's root written once (see the module docstring).

    The body's items are JSON spans: a root is an item of its own, kept beside its dict, so that a later
    record of its trace can widen it and mark it failed in place; the body's size stays exact."""

    def __init__(self, render: Any, *, prefix: bytes) -> None:
        super().__init__(render, prefix=prefix, separator=b",", suffix=b"]}}}")
        #: The roots in this body: trace id -> (index of its item, its span).
        self._roots: dict[str, tuple[int, dict[str, Any]]] = {}

    def append(self, record: Any, max_bytes: int = -1) -> int:
        root, spans = self._render(record)
        items: list[bytes] = []
        patch = None
        if root is not None:
            known = self._roots.get(root["trace_id"])
            if known is None:
                items.append(orjson.dumps(root))
            else:
                index, span = known
                start = min(span["start_ns"], root["start_ns"])
                end = max(span["start_ns"] + span["duration"], root["start_ns"] + root["duration"])
                widened = {**span, "start_ns": start, "duration": end - start,
                           "status": "error" if "error" in (span["status"], root["status"]) else "ok"}
                patch = (index, widened, orjson.dumps(widened))
        items.append(spans)
        added = sum(map(len, items)) + len(self.separator) * (len(items) - (0 if self._chunks else 1))
        if patch is not None:
            added += len(patch[2]) - len(self._chunks[patch[0]])
        if max_bytes >= 0 and self.records and self.size + added > max_bytes:
            return 0
        if patch is not None:
            index, widened, data = patch
            self._chunks[index] = data
            self._roots[widened["trace_id"]] = (index, widened)
        elif root is not None:
            self._roots[root["trace_id"]] = (len(self._chunks), root)
        self._chunks += items
        self._body += added
        self.records += 1
        return added if self.records > 1 else added + len(self.prefix) + len(self.suffix)

    def reset(self) -> None:
        super().reset()
        self._roots = {}

    def __repr__(self) -> str:
        return f"<DatadogEncoder records={self.records} roots={len(self._roots)} bytes={self.size}>"


def _fit(span: dict[str, Any]) -> bytes:
    """The span's JSON; over 1 MB, with its messages replaced by a note (metadata and metrics kept)."""
    data = orjson.dumps(span)
    if len(data) <= MAX_SPAN_BYTES:
        return data
    meta = span["meta"] = dict(span["meta"])
    for side, role in (("input", "user"), ("output", "assistant")):
        if side in meta:
            meta[side] = {"messages": [{"role": role, "content": DROPPED_IO}]}
    meta["metadata"] = {**meta["metadata"], "dropped_io": True}
    data = orjson.dumps(span)
    if len(data) <= MAX_SPAN_BYTES:
        return data
    # Still over: the rest is an error text or metadata of the caller's. Each is cut to its share, as
    # text, so the span still goes (with its metrics) instead of being refused whole by the intake.
    share = MAX_SPAN_BYTES // 4
    error = meta.get("error")
    if isinstance(error, dict) and len(orjson.dumps(error)) > share:
        meta["error"] = {k: (v[:share // 2] + " [truncated]" if isinstance(v, str) and len(v) > share // 2 else v)
                         for k, v in error.items()}
    text = orjson.dumps(meta["metadata"]).decode()
    if len(text) > share:
        meta["metadata"] = {"truncated_metadata": text[:share] + " [truncated]", "dropped_io": True}
    return orjson.dumps(span)


class DatadogDestination(Destination):
    """LLM Observability spans to one Datadog site (or a base URL standing for it)."""

    type = "datadog"
    settings_class = DatadogSettings
    secret_headers = frozenset({"dd-api-key"})
    #: dd-trace's payload cap (Datadog's intake takes about 5.1 MB).
    max_batch_bytes = 5 * 1024 * 1024
    #: Where "now" comes from for the age check (tests replace it on an instance).
    clock_ns: ClassVar[Any] = staticmethod(time.time_ns)

    def validate(self, where: str) -> None:
        s = self.settings
        check_header_value(s.api_key, f"{where}.apiKey")
        app = s.ml_app
        if (not app or len(app) > 193 or app != app.lower() or "__" in app or app.endswith("_")
                or not all(c.isalnum() or c in ML_APP_CHARS for c in app)):
            raise ConfigError(f"{where}.mlApp", "expected lowercase letters, digits and _ - : . / (at most 193,"
                                                " no doubled or trailing underscore), as Datadog names applications")
        given = [key for key, value in (("site", s.site), ("baseUrl", s.base_url), ("url", s.url)) if value is not None]
        if len(given) > 1:
            raise ConfigError(f"{where}.{given[1]}", f"give only one of site, baseUrl and url (got {', '.join(given)})")
        if s.base_url is not None or s.url is not None:
            key = "baseUrl" if s.base_url is not None else "url"
            check_url(s.base_url if s.base_url is not None else s.url, f"{where}.{key}")
        else:
            self._host = site_host(s.site or DEFAULT_SITE, f"{where}.site")
        if s.max_age_s is not None and not s.max_age_s > 0:
            raise ConfigError(f"{where}.maxAgeS", f"must be > 0 (or null: no age check), got {s.max_age_s}")

    @property
    def base_url(self) -> str:
        s = self.settings
        given = s.base_url if s.base_url is not None else s.url
        return given if given is not None else "https://" + self._host

    @property
    def url(self) -> str:
        base = self.base_url.rstrip("/")
        return base if base.endswith(SPANS_PATH) else base + SPANS_PATH

    def render(self, rec: Any) -> tuple[dict[str, Any] | None, bytes]:
        """One record: (its trace's root span, for the encoder to write once per request, or None; its other
        spans, comma-separated JSON). RecordTooOld when Datadog would refuse its age."""
        max_age_s = self.settings.max_age_s
        if max_age_s is not None:
            age_ns = self.clock_ns() - rec.start_time_ns
            if age_ns > max_age_s * 1_000_000_000:
                raise RecordTooOld(age_ns / 1e9, max_age_s)
        root, spans = render_tree(rec, self.id_salt)
        return root, b",".join(_fit(span) for span in spans)

    def new_encoder(self, format: str | None = None) -> DatadogEncoder:
        """A batch encoder: the spans request with its ``spans`` array open (format: JSON only, ignored)."""
        s = self.settings
        prefix = (b'{"data":{"type":"span","attributes":{"ml_app":' + orjson.dumps(s.ml_app)
                  + b',"tags":' + orjson.dumps([f"service:{s.ml_app}"]) + b',"spans":[')
        return DatadogEncoder(self.render, prefix=prefix)

    def request(self, body: bytes) -> Request:
        own = {"DD-API-KEY": self.settings.api_key, "Content-Type": "application/json"}
        return Request("POST", self.url, merge_headers(self.settings.headers, own), body)

    def test_payload(self) -> tuple[Payload, frozenset[int]]:
        """One ``spancast-connection-test`` llm span, timed by this destination's clock (Datadog refuses
        spans older than a day); a 2xx passes."""
        encoder = self.new_encoder()
        encoder.append(test_record(self.clock_ns()))
        return Payload(encoder.finish()), frozenset()
