"""Comet Opik's REST route (``opik`` with ``route: rest``): per record one trace and one LLM span, two requests.

Wire, and what each part rests on (Opik REST API reference, "Create traces",
https://www.comet.com/docs/opik/reference/rest-api/traces/create-traces, and "Create spans",
https://www.comet.com/docs/opik/reference/rest-api/spans/create-spans; Opik's backend, comet-ml/opik
``apps/opik-backend``, for what the pages leave out):

- ``POST <baseUrl>/v1/private/traces/batch`` with ``{"traces": [<trace>, ...]}``, then
  ``POST <baseUrl>/v1/private/spans/batch`` with ``{"spans": [<span>, ...]}``; Opik answers 204. Traces go
  first, so a span's trace is there when the span is (Opik itself does not insist: it stores spans whose
  trace it has not seen yet). ``baseUrl`` defaults to ``https://www.comet.com/opik/api`` (self-hosted:
  ``http://<host>:5173/api``).
- Headers on both: ``Authorization: <apiKey>`` (the key itself, no Bearer), ``Comet-Workspace:
  <workspace>``, ``Content-Type: application/json``. The project travels in the body (``project_name``);
  Opik creates it on first use.
- Limits: at most 1000 items per batch request (``TraceBatch`` / ``SpanBatch``: ``@Size(min = 1, max =
  1000)``), and a record may bring two spans, so ``max_batch_records`` is 500; Opik's own SDK keeps a request under 5 MB
  (``MAX_BATCH_SIZE_MB`` in ``sdks/python/src/opik/config.py``), so ``max_batch_bytes`` is 5 MiB, counted
  over both documents together (each request is smaller). A body too large gets 413 and the pipeline
  splits the batch. Compression: Opik's SDK gzips its JSON requests by default, so ``compression: gzip``
  is safe; the default stays ``none``.
- A batch is one pipeline body holding both documents, ``{"traces":[...]}`` ``\\n`` ``{"spans":[...]}``
  (compact JSON never holds a raw newline, so the body splits at its first one). ``payloads(body)`` cuts it
  into the two requests' payloads, views into that body (no copy), each naming its endpoint; the pipeline
  compresses each on its own and sends them in order, each with a retry budget of its own, and on a retry
  resumes at the one that failed: traces Opik took are not sent again, nor after a 413 on the spans
  request (the halves start at their spans). A preview shows one combined view (``preview_payload``),
  ``POST <baseUrl>/v1/private/{traces,spans}/batch`` with the JSON list of the two documents in the order
  they are sent (a URL Opik does not serve, so it cannot be sent by mistake).

Ids. Opik takes only version 7 UUIDs as trace and span ids (``IdGenerator.validateVersion``: "id must be a
version 7 UUID", HTTP 400 for the whole batch), and recent versions also refuse ids whose embedded
millisecond timestamp lies outside an ingestion window around now (``UuidV7TimestampValidator``; the
timestamp places the row in its storage partition). So each id is a UUIDv7 made from the record: the
generation's start in milliseconds, then 74 bits of a keyed BLAKE2b hash of ``trace:<generation id>`` (or
``span:``, ``mid:``, ``shared-trace:<trace_id>``) and the destination's id salt (``spancast.codec.ids``), so
two destinations on one Opik never share an id. The same record always gets the same ids; the original ids go to metadata
(``openrouter_trace_id``, ``openrouter_observation_id``), as OpenRouter's Opik page says.

Redelivery is safe. The batch endpoints insert without looking (``TraceDAO`` / ``SpanDAO.batchInsert``)
into ClickHouse ``ReplacingMergeTree(last_updated_at)`` tables ordered by ``(workspace_id, project_id,
id)`` for traces and ``(workspace_id, project_id, trace_id, parent_span_id, id)`` for spans; a second
insert of the same id replaces the first (the latest write wins) rather than failing or adding a row.
Opik's docs tell SDK users the same ("Re-send the full payload to overwrite",
https://www.comet.com/docs/opik/reference/python-sdk/troubleshooting/batching-and-updates). Only the
single-item ``POST /v1/private/traces`` answers 409 for an existing id; this route never uses it. A span's
ids (its own, its trace's, its parent's) are fixed per record, so a replay lands on the same row.

Records sharing a ``trace.trace_id`` are one Opik trace: its id is a UUIDv7 of a hash of that text, with
the record's start floored to the UTC hour as its timestamp (the same for every record of the trace, and
well inside the ingestion window Opik checks, 24 hours either side of now). Each record writes the trace
again (the latest write wins: its name, times, input and output); a trace crossing an hour boundary shows
as two. A record without ``trace_id`` is a trace of its own, its id made from the generation id.

Mapping (OpenRouter's Opik page, https://openrouter.ai/docs/guides/features/broadcast/opik):

  Trace ``{"id", "project_name", "name", "start_time", "end_time", "input", "output", "metadata", "tags",
  "thread_id", "error_info", "ttft"}``:

  ================  ======================================================================================
  ``name``          ``trace.trace_name``, else ``model``
  ``input``         ``{"messages": [...]}``, else ``{"prompt": ...}``
  ``output``        ``{"choices": [{"index": 0, "message": {"role": "assistant", "content", "tool_calls",
                    "reasoning"}, "finish_reason"}]}`` (OpenAI's shape, which Opik's UI shows as a chat);
                    absent without a completion, tool calls or reasoning
  ``metadata``      every custom ``trace`` key, then ``openrouter_trace_id`` (``trace.trace_id`` as given,
                    else the generation id), ``user_id`` (``user``); these win over custom keys
  ``tags``          a custom ``trace.tags`` key that is a list: its strings
  ``thread_id``     ``session_id`` (Opik groups a conversation's traces into a thread)
  ``error_info``    when ``status`` is ``"error"``: ``exception_type`` (``error_type``, else ``"error"``),
                    ``message`` (``error_message``), ``traceback`` (Opik requires one: the message, else the
                    type)
  ``ttft``          ``time_to_first_token_ms`` (milliseconds)
  ================  ======================================================================================

  Span ``{"id", "project_name", "trace_id", "parent_span_id", "name", "type": "llm", "start_time",
  "end_time", "input", "output", "metadata", "model", "provider", "tags", "usage", "total_estimated_cost",
  "error_info", "ttft"}``: ``input``, ``output``, ``tags``, ``error_info``, ``ttft`` as on the trace, and

  ========================  ==============================================================================
  ``name``                  ``trace.generation_name``, else ``model`` (``trace.span_name`` names a ``general``
                            span of its own, between the trace and the llm span, as OpenRouter's docs say)
  ``parent_span_id``        ``trace.parent_span_id`` when it is a UUIDv7 (an Opik span id of the caller's);
                            anything else would fail the whole batch, so it stays in metadata only. The
                            parent lies in another trace (each record is its own): Opik stores the link,
                            how its trace view draws such a span was not checked
  ``model``, ``provider``   ``model``, ``provider``
  ``usage``                 as Opik's SDK sends an OpenAI-shaped usage (its OpenAI integration, opik 2.2.122
                            ``llm_usage``: ``OpikUsage.to_backend_compatible_full_usage_dict``): ``prompt_tokens``,
                            ``completion_tokens``, ``total_tokens``, then the provider's usage flattened under
                            ``original_usage.``: the same three, ``prompt_tokens_details.cached_tokens``,
                            ``prompt_tokens_details.cache_write_tokens`` and
                            ``completion_tokens_details.reasoning_tokens`` (OpenRouter's usage object, the shape
                            the SDK records for a call through OpenRouter); Opik's backend reads the cached count
                            there (``SpanCostCalculator``, ``original_usage.prompt_tokens_details.cached_tokens``).
                            Opik keeps 32-bit counts: a larger one is left out, and stays in metadata
  ``total_estimated_cost``  ``total_cost`` (USD; Opik then does not estimate the cost itself)
  ``metadata``              every custom ``trace`` key, then ``openrouter_trace_id``,
                            ``openrouter_observation_id`` (the generation id), ``openrouter_parent_span_id``,
                            ``span_name``, ``input_cost``, ``output_cost``, ``total_cost``,
                            ``model_parameters``, ``finish_reason``, ``native_finish_reason``,
                            ``cached_tokens``, ``cache_write_tokens``, ``reasoning_tokens``, ``streamed``,
                            ``cancelled``; these win over custom keys
  ========================  ==============================================================================

  Absent values are left out. Times are ISO 8601 UTC with microseconds.
- Privacy mode: the route has already removed the content fields (messages, prompt, completion,
  reasoning, tool_calls), so neither document has ``input`` or ``output``; nothing else here is derived
  from content.

Test Connection (``test_payload``) posts a trace batch with one trace named ``spancast-connection-test``
(``openrouter_trace_id`` ``000...0001``) and no span. Opik stores it as data: it appears among the
project's traces, one per test (its id carries the test's time, which Opik requires to be recent).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any, Mapping, Sequence

import orjson

from ..codec.ids import salted
from ..errors import EncodeError
from ..probe import test_record
from ..record import TRACE_KEYS
from ._preset import check_json_route, join_url
from ._secret import merge_headers
from .base import Destination, Payload, Request
from .events import EventEncoder, trace_text
from .opik import OpikSettings, check_credentials

__all__ = ["OpikRestDestination", "RestEncoder", "opik_id", "render_documents", "usage_of", "MAX_BATCH_BYTES",
           "MAX_BATCH_RECORDS"]

TRACES_PATH = "/v1/private/traces/batch"
SPANS_PATH = "/v1/private/spans/batch"
PREVIEW_PATH = "/v1/private/{traces,spans}/batch"
#: Opik's batch requests take 1000 items at most (TraceBatch / SpanBatch, @Size(max = 1000)); a record may
#: bring two spans (its span_name span and its llm span), so 500 records a batch.
MAX_BATCH_RECORDS = 500
#: Opik's SDK keeps a request under 5 MB (MAX_BATCH_SIZE_MB = 5, counted in MiB); here both documents together.
MAX_BATCH_BYTES = 5 * 1024 * 1024
#: Opik's usage map holds Int32 counts; a larger value would fail the whole batch.
MAX_USAGE = 2**31 - 1
#: The personalisation of the id hash: fixed forever, or redelivered records stop matching stored ones.
_ID_PERSON = b"spancast:opik"
_MS = 1_000_000


def iso_us(ns: int) -> str:
    """Unix nanoseconds as ISO 8601 UTC with microseconds (``2024-11-19T07:06:40.123456Z``)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"


def opik_id(kind: str, generation_id: str, start_time_ns: int, salt: int = 0) -> str:
    """A UUIDv7 for one of a record's documents: the start in ms (48 bits), version 7, then 74 bits of a hash
    of ``<kind>:<generation id>`` and the destination's id salt (12 + 62, around the variant bits). The same
    record, the same id."""
    digest = hashlib.blake2b(salted(f"{kind}:{generation_id}", salt).encode("utf-8", "surrogatepass"), digest_size=10,
                             person=_ID_PERSON).digest()
    bits = int.from_bytes(digest, "big")  # 80 bits: 12 for rand_a, 62 for rand_b, 6 unused
    ms = (start_time_ns // _MS) & 0xFFFF_FFFF_FFFF
    value = (ms << 80) | (0x7 << 76) | ((bits >> 62 & 0xFFF) << 64) | (0b10 << 62) | (bits & (1 << 62) - 1)
    return str(uuid.UUID(int=value))


def _as_uuid7(text: str) -> str | None:
    """The canonical form of a UUIDv7 written canonically (in any case), else None."""
    try:
        value = uuid.UUID(text)
    except ValueError:
        return None
    canonical = str(value)
    return canonical if canonical == text.lower() and value.version == 7 and value.variant == uuid.RFC_4122 else None


def _put(out: dict[str, Any], pairs) -> dict[str, Any]:
    for key, value in pairs:
        if value is not None:
            out[key] = value
    return out


def _content(rec: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(input, output) of a record; None where it has none (always, in privacy mode)."""
    if rec.messages is not None:
        given: dict[str, Any] | None = {"messages": rec.messages}
    elif rec.prompt is not None:
        given = {"prompt": rec.prompt}
    else:
        given = None
    answer = None
    if rec.completion is not None or rec.tool_calls or rec.reasoning is not None:
        message = _put({"role": "assistant", "content": rec.completion}, (
            ("tool_calls", rec.tool_calls or None),
            ("reasoning", rec.reasoning),
        ))
        answer = {"choices": [_put({"index": 0, "message": message}, (("finish_reason", rec.finish_reason),))]}
    return given, answer


_HOUR_NS = 3600 * 1_000_000_000


def trace_uuid(rec: Any, shared: str | None, salt: int = 0) -> str:
    """The Opik trace id of a record: its own, or its shared trace_id's (hashed with the destination's id
    salt, stamped with the start's UTC hour, so every record of the trace names the same trace)."""
    if shared is None:
        return opik_id("trace", rec.id, rec.start_time_ns, salt)
    return opik_id("shared-trace", shared, rec.start_time_ns // _HOUR_NS * _HOUR_NS, salt)


def usage_of(rec: Any) -> dict[str, int]:
    """The span's ``usage``: what Opik's SDK sends for the record's counts as an OpenAI-shaped usage object
    (see the module docstring); absent counts and counts over Int32 are left out."""
    shaped = (
        ("prompt_tokens", rec.prompt_tokens),
        ("completion_tokens", rec.completion_tokens),
        ("total_tokens", rec.total_tokens),
    )
    # Without the "original_usage." keys Opik shows the three totals only: the cache and reasoning counts are
    # what the SDK flattens from the provider's usage, under the provider's own (here OpenAI's) names.
    original = shaped + (
        ("prompt_tokens_details.cached_tokens", rec.cached_tokens),
        ("prompt_tokens_details.cache_write_tokens", rec.cache_write_tokens),
        ("completion_tokens_details.reasoning_tokens", rec.reasoning_tokens),
    )
    usage = {key: value for key, value in shaped if value is not None and value <= MAX_USAGE}
    usage.update((f"original_usage.{key}", value) for key, value in original if value is not None and value <= MAX_USAGE)
    return usage


def render_documents(rec: Any, project_name: str, salt: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The trace and the spans (the span_name span, if any, then the llm span) of one record, as dicts
    (see the module docstring for the mapping); salt is the destination's id salt."""
    trace = rec.trace or {}
    if not isinstance(trace, Mapping):
        raise EncodeError("trace", f"expected an object, got {type(trace).__name__}")
    original_trace_id = trace_text(trace, "trace_id") or rec.id
    parent = trace_text(trace, "parent_span_id")
    span_name = trace_text(trace, "span_name")
    custom = {key: value for key, value in trace.items() if key not in TRACE_KEYS}
    listed = custom.get("tags")
    tags = [tag for tag in listed if isinstance(tag, str)] if isinstance(listed, list) else None
    given, answer = _content(rec)
    error = None
    if rec.status == "error":
        error = _put({"exception_type": rec.error_type or "error"}, (("message", rec.error_message),))
        error["traceback"] = rec.error_message or error["exception_type"]
    start, end = iso_us(rec.start_time_ns), iso_us(rec.end_time_ns)
    trace_id = trace_uuid(rec, trace_text(trace, "trace_id"), salt)

    trace_doc: dict[str, Any] = {"id": trace_id, "project_name": project_name,
                                 "name": trace_text(trace, "trace_name") or rec.model,
                                 "start_time": start, "end_time": end}
    _put(trace_doc, (("input", given), ("output", answer)))
    trace_doc["metadata"] = _put(dict(custom), (("openrouter_trace_id", original_trace_id), ("user_id", rec.user)))
    _put(trace_doc, (("tags", tags or None), ("thread_id", rec.session_id), ("error_info", error),
                     ("ttft", rec.time_to_first_token_ms)))

    spans: list[dict[str, Any]] = []
    parent_id = _as_uuid7(parent) if parent else None
    if span_name:
        mid: dict[str, Any] = {"id": opik_id("mid", rec.id, rec.start_time_ns, salt), "project_name": project_name,
                               "trace_id": trace_id}
        if parent_id is not None:
            mid["parent_span_id"] = parent_id
        mid.update(name=span_name, type="general", start_time=start, end_time=end)
        spans.append(mid)
        parent_id = mid["id"]
    span_doc: dict[str, Any] = {"id": opik_id("span", rec.id, rec.start_time_ns, salt), "project_name": project_name,
                                "trace_id": trace_id}
    if parent_id is not None:
        span_doc["parent_span_id"] = parent_id
    span_doc["name"] = trace_text(trace, "generation_name") or rec.model
    span_doc["type"] = "llm"
    span_doc["start_time"], span_doc["end_time"] = start, end
    _put(span_doc, (("input", given), ("output", answer)))
    span_doc["metadata"] = _put(dict(custom), (
        ("openrouter_trace_id", original_trace_id),
        ("openrouter_observation_id", rec.id),
        ("openrouter_parent_span_id", parent),
        ("span_name", span_name),
        ("input_cost", rec.input_cost),
        ("output_cost", rec.output_cost),
        ("total_cost", rec.total_cost),
        ("model_parameters", rec.model_parameters or None),
        ("finish_reason", rec.finish_reason),
        ("native_finish_reason", rec.native_finish_reason),
        ("cached_tokens", rec.cached_tokens),
        ("cache_write_tokens", rec.cache_write_tokens),
        ("reasoning_tokens", rec.reasoning_tokens),
        ("streamed", rec.streamed),
        ("cancelled", rec.cancelled),
    ))
    usage = usage_of(rec)
    _put(span_doc, (("model", rec.model), ("provider", rec.provider), ("tags", tags or None), ("usage", usage or None),
                    ("total_estimated_cost", rec.total_cost), ("error_info", error),
                    ("ttft", rec.time_to_first_token_ms)))
    spans.append(span_doc)
    return trace_doc, spans


TRACES_PREFIX = b'{"traces":['
SPANS_PREFIX = b'{"spans":['
SUFFIX = b"]}"


class RestEncoder(EventEncoder):
    """Appends each record's trace and span to the two documents of one body; knows the body's exact size.

    The framing (``{"traces":[`` ... ``]}`` ``\\n`` ``{"spans":[`` ... ``]}``) is prefix + suffix of the base
    class; each record adds its trace and its span, and two commas from the second record on."""

    def __init__(self, render: Any) -> None:
        super().__init__(render, prefix=TRACES_PREFIX, separator=b",", suffix=SUFFIX + b"\n" + SPANS_PREFIX + SUFFIX)
        self._spans: list[bytes] = []

    def append(self, record: Any, max_bytes: int = -1) -> int:
        trace, span = self._render(record)
        added = len(trace) + len(span) + (2 * len(self.separator) if self.records else 0)
        if max_bytes >= 0 and self.records and self.size + added > max_bytes:
            return 0
        self._chunks.append(trace)
        self._spans.append(span)
        self._body += added
        self.records += 1
        return added if self.records > 1 else added + len(self.prefix) + len(self.suffix)

    def finish(self) -> bytes:
        body = b"".join((TRACES_PREFIX, self.separator.join(self._chunks), SUFFIX, b"\n", SPANS_PREFIX,
                         self.separator.join(self._spans), SUFFIX))
        self.reset()
        return body

    finish_view = finish

    def reset(self) -> None:
        super().reset()
        self._spans = []

    def __repr__(self) -> str:
        return f"<RestEncoder records={self.records} bytes={self.size}>"


class OpikRestDestination(Destination):
    """Traces and spans to an Opik project through Opik's REST batch API (``route: rest``, the default)."""

    type = "opik"
    settings_class = OpikSettings
    secret_headers = frozenset({"authorization"})
    #: The body's encoding, as the OTLP route names its own (read by previews and tests).
    encoding = "json"
    max_batch_bytes = MAX_BATCH_BYTES
    max_batch_records = MAX_BATCH_RECORDS
    requests_per_batch = 2  # traces, then spans

    def validate(self, where: str) -> None:
        s = self.settings
        check_json_route(s, where, "REST")
        check_credentials(s, where)

    @property
    def traces_url(self) -> str:
        return join_url(self.settings.base_url, TRACES_PATH)

    @property
    def spans_url(self) -> str:
        return join_url(self.settings.base_url, SPANS_PATH)

    @property
    def url(self) -> str:
        return self.traces_url

    def render(self, rec: Any) -> tuple[bytes, bytes]:
        """The record's trace, and its spans as array items (comma-joined: they go into one JSON array)."""
        trace, spans = render_documents(rec, self.settings.project_name, self.id_salt)
        return orjson.dumps(trace), b",".join(orjson.dumps(span) for span in spans)

    def new_encoder(self, format: str | None = None) -> RestEncoder:
        """Traces and spans in one body (format ignored: the route sends JSON only)."""
        return RestEncoder(self.render)

    def headers(self) -> dict[str, str]:
        s = self.settings
        own = {"Authorization": s.api_key, "Comet-Workspace": s.workspace, "Content-Type": "application/json"}
        return merge_headers(s.headers, own)

    def payloads(self, body: bytes, records: Sequence[Any] = ()) -> list[Payload]:
        """The batch's two payloads, traces first, each naming its endpoint; views into ``body`` (no copy)."""
        # compact JSON holds no raw newline but the one between the documents
        end = (body if isinstance(body, bytes) else bytes(body)).index(b"\n")
        view = memoryview(body)
        return [Payload(view[:end], url=self.traces_url), Payload(view[end + 1:], url=self.spans_url)]

    def request(self, body: bytes) -> Request:
        """The request for one payload as sent, to the traces endpoint unless its payload names the spans one."""
        return Request("POST", self.traces_url, self.headers(), body)

    def preview_payload(self, payloads: list[Payload]) -> Payload:
        """Both payloads as one view for a preview: the URL names both paths, the body is the JSON list of
        the two documents in the order they are sent."""
        combined = b"[" + b",".join(bytes(p.body) for p in payloads) + b"]"
        return Payload(combined, url=join_url(self.settings.base_url, PREVIEW_PATH))

    def test_payload(self) -> tuple[Payload, frozenset[int]]:
        """A trace batch with one ``spancast-connection-test`` trace (Opik stores it as data); a 2xx passes."""
        trace, _ = render_documents(test_record(), self.settings.project_name)
        return Payload(orjson.dumps({"traces": [trace]}), url=self.traces_url), frozenset()

    def hint(self, status: int | None, excerpt: str) -> str | None:
        """What a failed test usually means on this route (None: the generic hint)."""
        if status == 401:
            return ("Opik refused the API key: apiKey must be an Opik key (opik_...), sent as it is (no Bearer);"
                    " self-hosted open-source Opik takes none")
        if status == 403:
            return ("the key may not write to this workspace: check workspace (sent as Comet-Workspace) and that"
                    " the key belongs to it")
        if status == 404:
            return ("wrong path or base URL: the REST route posts to <baseUrl>/v1/private/traces/batch and"
                    " <baseUrl>/v1/private/spans/batch, with baseUrl https://www.comet.com/opik/api (self-hosted:"
                    " http://<host>:5173/api)")
        return None

    def __repr__(self) -> str:
        return f"<OpikRestDestination name={self.name!r} type=opik project={self.settings.project_name!r}>"
