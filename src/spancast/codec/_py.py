"""Pure-Python twin of the native OTLP encoder: the same bytes, written plainly.

Wire format (OTLP trace protobuf; the native encoder writes the same fields in
the same order, so the bytes are identical):

    ExportTraceServiceRequest  1 resource_spans (LEN)
    ResourceSpans              1 resource (LEN)        2 scope_spans (LEN)
    Resource                   1 attributes (LEN, KeyValue)
    ScopeSpans                 1 scope (LEN)           2 spans (LEN, repeated)
    InstrumentationScope       1 name (LEN)            2 version (LEN)
    Span                       1 trace_id (LEN 16)     2 span_id (LEN 8)      4 parent_span_id (LEN 8)
                               5 name (LEN)            6 kind (VARINT)        7 start_time_unix_nano (I64)
                               8 end_time_unix_nano (I64)   9 attributes (LEN)   15 status (LEN)
    Status                     2 message (LEN)         3 code (VARINT)
    KeyValue                   1 key (LEN)             2 value (LEN, AnyValue; present even when empty)
    AnyValue (oneof)           1 string (LEN)  2 bool (VARINT)  3 int (VARINT, two's complement)
                               4 double (I64)  5 array (LEN: ArrayValue 1 values (LEN, AnyValue))

OTLP JSON follows the OTLP specification: lowerCamelCase keys, lowercase hex
ids, integer enums, 64-bit integers as strings, non-finite doubles as
"NaN" / "Infinity" / "-Infinity". Strings are escaped as the json module
does (short escapes, \\u00XX for other control characters, UTF-8 otherwise).

Values are first evaluated into tagged tuples, then written by one of two
small writers; the native encoder writes straight into its buffer instead.

``max_value_chars`` (a receiver's limit, e.g. New Relic's 4095) cuts every
string attribute value, resource attributes and the JSON texts of nested
values included, to that many code points before it is written (so a cut
never splits a UTF-8 sequence, and in OTLP JSON it applies to the unescaped
text). Keys, span names and status messages are not attribute values.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import EncodeError
from ..record import Generation, ProviderAttempt
from ..record_checks import first_problem  # noqa: F401 - part of the twin's surface, like the native module's
from ._cache import encode_with
from ._sizing import record_bytes  # noqa: F401 - part of the twin's surface, like the native module's
from .envelope import Envelope
from .ids import SEED_ATTEMPT, SEED_PARENT, SEED_ROOT, SEED_SPAN_GEN, SEED_SPAN_MID, SEED_TRACE_HI, SEED_TRACE_LO, hash64
from .values import (ORIGINAL_PARENT_ID, ORIGINAL_TRACE_ID, check_double as _double,
                     check_int64 as _int64, check_mapping as _mapping, check_text as _text, check_time_ns as _time,
                     draws_trace_root, given_id as _given_id, id_text as _id_text, json_text, plain_messages,
                     typed_value)
from . import shapes
from .plan import AttributePlan, Op, get_plan
from .wire import json_kv, json_quote, len_field, pb_kv, utf8, varint

__all__ = ["TraceEncoder", "encode_traces", "hash64", "json_text", "check_id_salt"]

_M64 = 0xFFFFFFFFFFFFFFFF


KIND_INTERNAL, KIND_CLIENT = 1, 3
STATUS_OK, STATUS_ERROR = 1, 2


def _tool_call_attrs(prefix: str, tool_calls: Any, field: str, out: list) -> None:
    if not isinstance(tool_calls, (list, tuple)):
        return
    for j, call in enumerate(tool_calls):
        if not isinstance(call, dict):
            continue
        base = f"{prefix}tool_calls.{j}.tool_call."
        call_id = call.get("id")
        if isinstance(call_id, str):
            out.append((base + "id", ("s", utf8(call_id))))
        fn = call.get("function")
        if isinstance(fn, dict):
            name = fn.get("name")
            if isinstance(name, str):
                out.append((base + "function.name", ("s", utf8(name))))
            args = fn.get("arguments")
            if isinstance(args, str):
                out.append((base + "function.arguments", ("s", utf8(args))))
            elif args is not None:
                out.append((base + "function.arguments", ("s", utf8(json_text(args, field)))))


def _message_attrs(prefix: str, msg: Mapping[str, Any], field: str, out: list) -> None:
    """role, content, name, tool_call_id, reasoning (as contents.0, OpenInference's reasoning content),
    tool_calls.N.tool_call.* of one message."""
    role, content = msg.get("role"), msg.get("content")
    if isinstance(role, str):
        out.append((prefix + "role", ("s", utf8(role))))
    if isinstance(content, str):
        out.append((prefix + "content", ("s", utf8(content))))
    elif content is not None:
        out.append((prefix + "content", ("s", utf8(json_text(content, field)))))
    for key in ("name", "tool_call_id"):
        value = msg.get(key)
        if isinstance(value, str):
            out.append((prefix + key, ("s", utf8(value))))
    reasoning = msg.get("reasoning")
    if isinstance(reasoning, str):
        out.append((prefix + "contents.0.message_content.type", ("s", b"reasoning")))
        out.append((prefix + "contents.0.message_content.text", ("s", utf8(reasoning))))
    _tool_call_attrs(prefix, msg.get("tool_calls"), field, out)


def evaluate(steps: Any, rec: Any) -> list[tuple[str, tuple[str, Any]]]:
    """Run plan steps (a plan: its generation steps) over one record: their attributes, in order."""
    if isinstance(steps, AttributePlan):
        steps = steps.steps
    out: list[tuple[str, tuple[str, Any]]] = []
    for op, key, field, arg in steps:
        value = getattr(rec, field) if field is not None else None
        if op == Op.STR or op == Op.STR_LOWER:
            if value is not None:
                text = _text(value, field)
                out.append((key, ("s", utf8(text.lower() if op == Op.STR_LOWER else text))))
        elif op == Op.STR_OR:
            if value is None:
                field, value = arg, getattr(rec, arg)
            if value is not None:
                out.append((key, ("s", utf8(_text(value, field)))))
        elif op == Op.STR_ARRAY:
            if value is not None:
                out.append((key, ("a", [("s", utf8(_text(value, field)))])))
        elif op == Op.INT:
            if value is not None:
                out.append((key, ("i", _int64(value, field))))
        elif op == Op.DOUBLE:
            if value is not None:
                number = _double(value, field)
                out.append((key, ("d", number if arg == 1.0 else number * arg)))
        elif op == Op.BOOL:
            if value is not None:
                out.append((key, ("b", bool(value))))
        elif op == Op.CONST:
            out.append((key, ("s", utf8(arg))))
        elif op == Op.EXPAND:
            if value is not None:
                for k, v in _mapping(value, field).items():
                    if not isinstance(k, str):
                        raise EncodeError(field, f"key {k!r} is not a string")
                    if k not in arg:
                        out.append((key + k, typed_value(v, f"{field}.{k}")))
        elif op == Op.JSON:
            if value is not None:
                out.append((key, ("s", utf8(json_text(value, field)))))
        elif op == Op.JSON_OBJECT:
            present = {k: getattr(rec, f) for k, f in arg if getattr(rec, f) is not None}
            if present:
                out.append((key, ("s", utf8(json_text(present, key)))))
        elif op == Op.TEXT_OR_JSON or op == Op.MIME_OF:
            text_field, json_field = arg
            text = getattr(rec, text_field)
            other = getattr(rec, json_field) if json_field is not None else None
            if text is not None:
                out.append((key, ("s", b"text/plain" if op == Op.MIME_OF else utf8(_text(text, text_field)))))
            elif other is not None:
                data = b"application/json" if op == Op.MIME_OF else utf8(json_text(other, json_field))
                out.append((key, ("s", data)))
        elif op == Op.MESSAGES:
            if isinstance(value, (list, tuple)):
                for i, msg in enumerate(value):
                    if isinstance(msg, dict):
                        _message_attrs(f"{key}{i}.message.", {**msg, "reasoning": None}, field, out)
        elif op == Op.OUTPUT_MESSAGE:
            if rec.completion is not None or rec.tool_calls is not None or rec.reasoning is not None:
                answer = {"role": "assistant", "content": rec.completion, "reasoning": rec.reasoning,
                          "tool_calls": rec.tool_calls}
                _message_attrs(f"{key}0.message.", answer, "completion", out)
        elif op == Op.MAP:
            if value is not None:
                text = _text(value, field)
                mapped = arg[0].get(text)
                out.append((key, ("s", utf8(mapped if mapped is not None else text.lower() if arg[1] else text))))
        elif op == Op.GENAI_INPUT or op == Op.GENAI_OUTPUT:
            built = shapes.genai_input(rec) if op == Op.GENAI_INPUT else shapes.genai_output(rec)
            if built is not None:
                out.append((key, ("s", utf8(json_text(built, "messages" if op == Op.GENAI_INPUT else "completion")))))
        elif op == Op.PYFUNC:
            result = arg(rec)
            if result is not None:
                out.append((key, typed_value(result, key)))
        elif op == Op.CUSTOM_JSON:
            if value is not None:
                custom = {k: v for k, v in _mapping(value, field).items() if k not in arg}
                if custom:
                    out.append((key, ("s", utf8(json_text(custom, field)))))
        elif op == Op.ENTRY:
            if value is not None:
                entry = _mapping(value, field).get(arg)
                if entry is not None:
                    out.append((key, typed_value(entry, f"{field}.{arg}")))
        else:  # pragma: no cover - plan.py and this file change together
            raise AssertionError(f"unknown op {op}")
    return out


def clip(data: bytes, max_chars: int) -> bytes:
    """UTF-8 text cut to its first max_chars code points (the bytes are valid UTF-8: see utf8())."""
    if len(data) <= max_chars:  # never more code points than bytes
        return data
    return data.decode("utf-8")[:max_chars].encode("utf-8")


def clip_value(value: tuple[str, Any], max_chars: int) -> tuple[str, Any]:
    """A typed value with every string in it cut to max_chars code points."""
    kind, v = value
    if kind == "s":
        return ("s", clip(v, max_chars))
    if kind == "a":
        return ("a", [clip_value(item, max_chars) for item in v])
    return value


# ---------------------------------------------------------------- ids and the span tree


class _Span:
    __slots__ = ("attrs", "code", "end", "events", "kind", "message", "name", "parent", "root", "span_id", "start",
                 "trace_id")

    def __init__(self, trace_id, span_id, parent, name, kind, start, end, attrs, code, message, events=(), root=False):
        self.trace_id, self.span_id, self.parent, self.name, self.kind = trace_id, span_id, parent, name, kind
        self.start, self.end, self.attrs, self.code, self.message = start, end, attrs, code, message
        self.events, self.root = events, root


def spans_of(plan: AttributePlan, rec: Any, salt: int = 0) -> list[_Span]:
    """The spans one record becomes: [trace root], [intermediate], generation, provider attempts.

    salt is xor-ed into the seed of every id derived here (trace ids from the generation id or a
    non-hex trace_id, span ids, the trace root's span id, non-hex parents); ids the caller gave in hex
    stay as they are.
    Checks run in the order the native encoder runs them, so both raise the same error.
    """
    if not isinstance(rec, Generation):
        raise EncodeError("<record>", f"expected spancast.Generation, got {type(rec).__name__}")
    trace = rec.trace
    if trace is not None:
        _mapping(trace, "trace")
    gen_id = utf8(_text(rec.id, "id"))
    start = _time(rec.start_time_ns, "start_time_ns")
    end = _time(rec.end_time_ns, "end_time_ns")

    trace_text = _id_text(trace, "trace_id")
    original: list[tuple[str, tuple[str, Any]]] = []
    if trace_text is None:
        trace_id = _hash_trace(gen_id, salt)
    else:
        trace_id = _given_id(trace_text, 32)
        if trace_id is None:
            trace_id = _hash_trace(utf8(trace_text), salt)
            original.append((ORIGINAL_TRACE_ID, ("s", utf8(trace_text))))
    parent_text = _id_text(trace, "parent_span_id")
    parent = None
    if parent_text is not None:
        parent = _given_id(parent_text, 16)
        if parent is None:
            parent = hash64(utf8(parent_text), SEED_PARENT ^ salt).to_bytes(8, "big")
            original.append((ORIGINAL_PARENT_ID, ("s", utf8(parent_text))))
    default = plan.default_name or _text(rec.model, "model")
    gen_name = _id_text(trace, "generation_name")
    trace_name = _id_text(trace, "trace_name")
    if plan.root_span:
        name = gen_name or default
    else:
        name = gen_name or trace_name or default
    # native/encoder.pxi draws the same: a root named like the generation adds nothing (a connection test's one
    # span); with parent_span_id the generation is a child of the caller's span, as OpenRouter documents
    draw_root = plan.root_span and draws_trace_root(trace_name, trace_text, parent_text, name)
    span_name = _id_text(trace, "span_name")
    if rec.status == "error":
        code, message = STATUS_ERROR, _text(rec.error_message or "Provider returned error", "error_message")
    else:
        code, message = STATUS_OK, None

    spans = []
    if draw_root:
        root_id = hash64(trace_id, SEED_ROOT ^ salt).to_bytes(8, "big")
        attrs = evaluate(plan.root_steps, rec) + evaluate(plan.trace_steps, rec)
        spans.append(_Span(trace_id, root_id, parent, trace_name or default, KIND_INTERNAL, start, end, attrs, code,
                           None, root=True))
        parent = root_id
    if span_name:
        mid_id = hash64(gen_id, SEED_SPAN_MID ^ salt).to_bytes(8, "big")
        mid_attrs = [(k, ("s", utf8(v))) for k, v in plan.intermediate]
        spans.append(_Span(trace_id, mid_id, parent, span_name, KIND_INTERNAL, start, end, mid_attrs, STATUS_OK, None))
        parent = mid_id
    gen_span_id = hash64(gen_id, SEED_SPAN_GEN ^ salt).to_bytes(8, "big")
    attrs = evaluate(plan.steps, rec)
    if not draw_root:
        attrs += evaluate(plan.trace_steps, rec)
    attrs += original
    events = exception_events(rec, end, message) if code == STATUS_ERROR and plan.exception_event else ()
    spans.append(_Span(trace_id, gen_span_id, parent, name, KIND_CLIENT, start, end, attrs, code, message, events))
    spans += _attempt_spans(plan, rec, trace_id, gen_id, gen_span_id, start, end, salt)
    return spans


def _hash_trace(source: bytes, salt: int = 0) -> bytes:
    return hash64(source, SEED_TRACE_HI ^ salt).to_bytes(8, "big") + hash64(source, SEED_TRACE_LO ^ salt).to_bytes(8, "big")


def check_id_salt(id_salt: Any) -> int:
    """The id_salt option as the encoders hold it: an int in [0, 2**64)."""
    if isinstance(id_salt, bool) or not isinstance(id_salt, int) or not 0 <= id_salt <= _M64:
        raise ValueError(f"id_salt must be an int in [0, 2**64), got {id_salt!r}")
    return int(id_salt)


def _attempt_spans(plan: AttributePlan, rec: Any, trace_id: bytes, gen_id: bytes, parent: bytes, start: int,
                   end: int, salt: int = 0) -> list[_Span]:
    """One child span per provider attempt, laid end to end from the generation's start."""
    spans = []
    cursor = start
    for n, attempt in enumerate(rec.provider_attempts or (), 1):
        if not isinstance(attempt, ProviderAttempt):
            raise EncodeError("provider_attempts", f"expected ProviderAttempt, got {type(attempt).__name__}")
        provider = _text(attempt.provider, "provider_attempts.provider")
        latency = attempt.latency_ms
        if latency is None:
            stop = end
        else:
            latency = _double(latency, "provider_attempts.latency_ms")
            duration = int(latency * 1e6) if 0.0 <= latency <= 1e12 else 0
            stop = end if duration > end - cursor else cursor + duration
        attrs = [(k, ("s", utf8(v))) for k, v in plan.attempt]
        attrs.append(("gen_ai.provider.name", ("s", utf8(provider))))
        if attempt.status is not None:
            attrs.append(("http.response.status_code", ("i", _int64(attempt.status, "provider_attempts.status"))))
        if attempt.error is not None:
            code, message = STATUS_ERROR, _text(attempt.error, "provider_attempts.error")
        else:
            code, message = (STATUS_ERROR if attempt.status is not None and attempt.status >= 400 else STATUS_OK), None
        span_id = hash64(gen_id, (SEED_ATTEMPT + n) ^ salt).to_bytes(8, "big")
        name = f"provider attempt {n}: {provider}"
        spans.append(_Span(trace_id, span_id, parent, name, KIND_CLIENT, cursor, stop, attrs, code, message))
        cursor = stop
    return spans


# ---------------------------------------------------------------- span events (both writers; the native encoder too)


def events_piece(events: Any, json: bool) -> bytes:
    """A span's events as written between its attributes and its status: in protobuf the Span.events
    fields (11: Event 1 time_unix_nano fixed64, 2 name, 3 attributes), in OTLP JSON ``"events":[...],``."""
    if json:
        items = [
            '{"timeUnixNano":"' + str(time_ns) + '","name":' + json_quote(name) + ',"attributes":['
            + ",".join(json_kv(k, v) for k, v in attrs) + "]}"
            for time_ns, name, attrs in events
        ]
        return ('"events":[' + ",".join(items) + "],").encode("utf-8")
    out = b""
    for time_ns, name, attrs in events:
        event = b"\x09" + struct.pack("<Q", time_ns) + len_field(0x12, utf8(name))
        event += b"".join(len_field(0x1A, pb_kv(k, v)) for k, v in attrs)
        out += len_field(0x5A, event)
    return out


def exception_events(rec: Any, end: int, message: str) -> tuple:
    """The ``exception`` event of a failed generation (OpenTelemetry's way of recording an error, which
    LangSmith shows as the run's error): exception.type (error_type, else "error") and .message."""
    kind = rec.error_type if rec.error_type is not None else "error"
    return ((end, "exception", [("exception.type", ("s", utf8(_text(kind, "error_type")))),
                                ("exception.message", ("s", utf8(message)))]),)


# ---------------------------------------------------------------- protobuf writer


def pb_span(span: _Span) -> bytes:
    parts = [b"\x0a\x10", span.trace_id, b"\x12\x08", span.span_id]
    if span.parent is not None:
        parts += [b"\x22\x08", span.parent]
    parts += [
        len_field(0x2A, utf8(span.name)),
        b"\x30" + varint(span.kind),
        b"\x39" + struct.pack("<Q", span.start),
        b"\x41" + struct.pack("<Q", span.end),
    ]
    parts += [len_field(0x4A, pb_kv(k, v)) for k, v in span.attrs]
    if span.events:
        parts.append(events_piece(span.events, False))
    status = b""
    if span.message is not None:
        status = len_field(0x12, utf8(span.message))
    status += b"\x18" + varint(span.code)
    parts.append(len_field(0x7A, status))
    return len_field(0x12, b"".join(parts))  # as a ScopeSpans.spans entry


# ---------------------------------------------------------------- JSON writer


def json_span(span: _Span) -> bytes:
    parts = ['{"traceId":"', span.trace_id.hex(), '","spanId":"', span.span_id.hex(), '"']
    if span.parent is not None:
        parts += [',"parentSpanId":"', span.parent.hex(), '"']
    parts += [
        ',"name":',
        json_quote(span.name),
        ',"kind":',
        str(span.kind),
        ',"startTimeUnixNano":"',
        str(span.start),
        '","endTimeUnixNano":"',
        str(span.end),
        '","attributes":[',
        ",".join(json_kv(k, v) for k, v in span.attrs),
        "],",
    ]
    if span.events:
        parts.append(events_piece(span.events, True).decode("utf-8"))
    parts.append('"status":{')
    if span.message is not None:
        parts += ['"message":', json_quote(span.message), ","]
    parts += ['"code":', str(span.code), "}}"]
    return utf8("".join(parts))


def root_patch(known: _Span, again: _Span, json: bool) -> tuple[int, int, int]:
    """(status code, start, end) of a trace root written once per request when another record of its trace
    comes: failed if either failed, widened to both records' times. A time whose decimal digits would change
    in number stays, in both formats (the native encoder patches OTLP JSON's digits in place, and protobuf
    says what JSON says)."""
    code = STATUS_ERROR if STATUS_ERROR in (known.code, again.code) else known.code
    start, end = min(known.start, again.start), max(known.end, again.end)
    if len(str(start)) != len(str(known.start)):
        start = known.start
    if len(str(end)) != len(str(known.end)):
        end = known.end
    return code, start, end


# ---------------------------------------------------------------- the encoder


class TraceEncoder:
    """Appends records one by one into one ExportTraceServiceRequest; knows its exact size so far."""

    def __init__(
        self,
        *,
        format: str = "protobuf",
        flavor: Any = "gen_ai",
        resource: Mapping[str, Any] | None = None,
        max_value_chars: int | None = None,
        id_salt: int = 0,
    ):
        if format not in ("protobuf", "json"):
            raise ValueError(f"unknown format {format!r}; expected 'protobuf' or 'json'")
        self.format = format
        self.plan = get_plan(flavor)
        #: Every string attribute value (resource ones too) is cut to this many code points; -1: no cut.
        self.max_value_chars = check_max_value_chars(max_value_chars)
        #: xor-ed into the seed of every id derived (a destination's own: two never share span ids).
        self.id_salt = check_id_salt(id_salt)
        self.envelope = Envelope(format, resource_attrs(resource, self.max_value_chars, self.plan.resource),
                                 self.plan.scope)
        self._json = format == "json"
        self._chunks: list[bytes] = []
        #: The trace roots written into this request: trace id -> (index of its chunk, its span).
        self._roots: dict[bytes, tuple[int, _Span]] = {}
        self._body = 0
        self.records = 0
        self.spans = 0

    def append(self, record: Any, max_bytes: int = -1) -> int:
        """Add one record; returns the bytes it added. On error nothing is added.

        With max_bytes, a record that would make a non-empty request larger than that is not added
        and 0 is returned (the batch is full); a lone record is always added, however large."""
        spans = spans_of(self.plan, record, self.id_salt)
        if self.max_value_chars >= 0:
            for span in spans:
                span.attrs = [(k, clip_value(v, self.max_value_chars)) for k, v in span.attrs]
        patch = None
        if spans[0].root and spans[0].trace_id in self._roots:
            # the trace's root is in this request already: widened to this record, failed if it failed
            index, known = self._roots[spans[0].trace_id]
            patch = (index, known, root_patch(known, spans[0], self._json))
            spans = spans[1:]
        if self._json:
            chunks = [json_span(s) for s in spans]
            added = sum(map(len, chunks)) + len(chunks) - (0 if self.spans else 1)
        else:
            chunks = [pb_span(s) for s in spans]
            added = sum(map(len, chunks))
        before = self.size
        if max_bytes >= 0 and self.records:
            if self.envelope.size(self._body + added, self.spans + len(chunks)) > max_bytes:
                return 0
        if spans[0].root:
            self._roots[spans[0].trace_id] = (len(self._chunks), spans[0])
        if patch is not None:
            index, known, (code, start, end) = patch
            known.code, known.start, known.end = code, start, end
            self._chunks[index] = json_span(known) if self._json else pb_span(known)
        self._chunks += chunks
        self._body += added
        self.records += 1
        self.spans += len(chunks)
        return self.size - before

    def append_many(
        self, records: list, start: int, max_records: int, max_bytes: int, errors: list, media_from: int = sys.maxsize
    ) -> tuple[int, str | None]:
        """Append records[start:] until the request is full; returns (next index, why it stopped).

        Stops with "records" when it holds max_records, with "bytes" when the next record would make
        it larger than max_bytes (that record is not added) or it has reached max_bytes, and with None
        when every record is in. A record that cannot be encoded is skipped and (index, EncodeError)
        is appended to errors. From index media_from on, a record whose messages may hold media
        (plain_messages) is not added: it stops with "media" at its index, for the caller to strip it."""
        i = start
        while i < len(records):
            if self.records >= max_records:
                return i, "records"
            if i >= media_from:
                record = records[i]
                if isinstance(record, Generation) and record.messages is not None and not plain_messages(record.messages):
                    return i, "media"
            try:
                added = self.append(records[i], max_bytes)
            except EncodeError as exc:
                errors.append((i, exc))
                i += 1
                continue
            if added == 0:
                return i, "bytes"
            i += 1
            if self.size >= max_bytes:
                return i, "bytes"
        return i, "records" if self.records >= max_records else None

    def share_spans(self, caches: dict) -> None:
        """The native twin's span sharing between destinations that render alike (spancache.pxi). This twin
        renders every record for every destination: what sharing saves is rendering, and the bytes are
        the same either way."""
        return None

    def extend(self, records: Iterable[Any]) -> None:
        for record in records:
            self.append(record)

    @property
    def size(self) -> int:
        """Exact length of what finish() would return now."""
        return self.envelope.size(self._body, self.spans)

    def finish(self) -> bytes:
        """The request bytes; the encoder is empty again afterwards."""
        if self._json:
            body = b",".join(self._chunks)
        else:
            body = b"".join(self._chunks)
        data = self.envelope.wrap(body, self.spans)
        self.reset()
        return data

    def finish_view(self) -> bytes:
        """finish() (the native twin hands over its buffer instead; bytes are what both return here)."""
        return self.finish()

    def reset(self) -> None:
        self._roots = {}
        self._chunks = []
        self._body = 0
        self.records = 0
        self.spans = 0

    def __repr__(self) -> str:
        return f"<TraceEncoder impl=python format={self.format} flavor={self.plan.name} records={self.records} bytes={self.size}>"


def _resource(resource: Mapping[str, Any] | None, defaults: Any = ()) -> list[tuple[str, Any]]:
    items = {**dict(defaults), **dict(resource or {})}
    service = items.pop("service.name", "spancast")
    return [("service.name", service), *items.items()]


def resource_attrs(resource: Mapping[str, Any] | None, max_chars: int = -1,
                   defaults: Any = ()) -> list[tuple[str, tuple[str, Any]]]:
    """The resource attributes as typed values (cut to max_chars code points when that is >= 0); defaults
    (the flavour's) come first and the destination's own resource wins over them."""
    attrs = [(k, typed_value(v, f"resource.{k}")) for k, v in _resource(resource, defaults)]
    if max_chars >= 0:
        attrs = [(k, clip_value(v, max_chars)) for k, v in attrs]
    return attrs


def check_max_value_chars(max_value_chars: Any) -> int:
    """The max_value_chars option as the encoders hold it: a count >= 0, or -1 for no limit."""
    if max_value_chars is None:
        return -1
    if isinstance(max_value_chars, bool) or not isinstance(max_value_chars, int) or max_value_chars < 0:
        raise ValueError(f"max_value_chars must be None or an int >= 0, got {max_value_chars!r}")
    return int(max_value_chars)


def encode_traces(records: Iterable[Any], *, format: str = "protobuf", flavor: Any = "gen_ai", resource=None) -> bytes:
    """Encode records into one ExportTraceServiceRequest (protobuf or OTLP JSON bytes)."""
    return encode_with(TraceEncoder, records, format, flavor, resource)
