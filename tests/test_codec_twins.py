"""Random records: the native encoder and its pure-Python twin write identical bytes, and both parse."""

from __future__ import annotations

import json

import msgspec

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otlp import any_value, as_dict, attrs, parse_otlp_json, parse_pb, spans
from spancast import EncodeError, Generation, ProviderAttempt
from spancast.codec import FLAVORS, implementation
from spancast.record import GenerationContext, GenerationCost, GenerationIdentity

BIG = ["x" * 1_000_000, "é🚀\x00" * 250_000, ""]
text = st.text() | st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
# Empty and 1 MB strings (ASCII, and astral + NUL) in the content fields, one draw in eight.
long_text = st.integers(min_value=0, max_value=7).flatmap(lambda i: st.sampled_from(BIG) if i == 0 else text)
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
huge = st.integers() | st.integers(min_value=2**63, max_value=2**80) | st.integers(max_value=-(2**63) - 1)
floats = st.floats(allow_nan=True, allow_infinity=True)
json_scalar = st.none() | st.booleans() | huge | floats | st.text(max_size=30)
json_value = st.recursive(
    json_scalar,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
    max_leaves=20,
)


def deep(depth: int):
    value: object = "leaf"
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


deep_value = st.integers(min_value=0, max_value=300).map(deep)
hex32 = st.text(alphabet="0123456789abcdefABCDEF", min_size=32, max_size=32)
hex16 = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)
id_like = st.none() | hex32 | hex16 | st.text(max_size=40) | st.integers()
trace = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "trace_id": id_like,
        "parent_span_id": id_like,
        "trace_name": st.text(max_size=20),
        "span_name": st.text(max_size=20),
        "generation_name": st.text(max_size=20),
        "custom": json_value,
        "deep": deep_value,
        "": json_scalar,
    },
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool"])},
    optional={
        "content": text | json_value,
        "tool_calls": st.lists(
            st.fixed_dictionaries(
                {"id": st.text(max_size=8), "function": st.fixed_dictionaries({"name": st.text(max_size=8), "arguments": text | json_value})}
            ),
            max_size=2,
        ),
    },
)
attempt = st.builds(
    ProviderAttempt,
    provider=st.text(max_size=20),
    status=st.none() | st.integers(min_value=100, max_value=599),
    latency_ms=st.none() | floats,
    error=st.none() | st.text(max_size=20),
)


@st.composite
def records(draw):
    start = draw(st.integers(min_value=0, max_value=2**64 - 1))
    end = draw(st.integers(min_value=start, max_value=2**64 - 1))
    opt = lambda s: st.none() | s  # noqa: E731
    return Generation(
        id=draw(st.text(min_size=1, max_size=256)),
        start_time_ns=start,
        end_time_ns=end,
        model=draw(st.text(min_size=1, max_size=256)),
        response_model=draw(opt(text)),
        provider=draw(opt(text)),
        operation=draw(st.sampled_from(["chat", "completion", "embeddings"])),
        status=draw(st.sampled_from(["ok", "error"])),
        error_type=draw(opt(st.text(max_size=20))),
        error_message=draw(opt(text)),
        finish_reason=draw(opt(st.text(max_size=12))),
        prompt_tokens=draw(opt(ints)),
        completion_tokens=draw(opt(ints)),
        cached_tokens=draw(opt(ints)),
        reasoning_tokens=draw(opt(ints)),
        input_cost=draw(opt(floats)),
        total_cost=draw(opt(floats)),
        time_to_first_token_ms=draw(opt(floats)),
        streamed=draw(opt(st.booleans())),
        model_parameters=draw(opt(st.dictionaries(st.text(max_size=12), json_value, max_size=5))),
        messages=draw(opt(st.lists(message, max_size=3))),
        prompt=draw(opt(long_text)),
        completion=draw(opt(long_text)),
        reasoning=draw(opt(st.text(max_size=20))),
        tool_calls=draw(opt(st.lists(st.dictionaries(st.text(max_size=5), json_value, max_size=3), max_size=2))),
        user=draw(opt(st.text(max_size=256))),
        session_id=draw(opt(st.text(max_size=256))),
        trace=draw(trace),
        api_key_name=draw(opt(st.text(max_size=20))),
        provider_attempts=draw(opt(st.lists(attempt, max_size=3))),
    )


NATIVE, PYTHON = implementation("native"), implementation("python")


def outcome(mod, recs, fmt, flavor):
    try:
        return ("ok", mod.encode_traces(recs, format=fmt, flavor=flavor))
    except EncodeError as exc:
        return ("error", exc.field, exc.reason)


def _text(value):
    return int.__repr__(value) if isinstance(value, int) and not isinstance(value, bool) else value


def check_model(rec: Generation, msg) -> None:
    """What the parsed message must say whatever the record: ids, times, names and content round-trip."""
    all_spans = spans(msg)
    gen = [s for s in all_spans if any(kv.key == "gen_ai.response.id" for kv in s.attributes)]
    assert len(gen) == 1
    gen = gen[0]
    trace = rec.trace or {}
    # the trace's root span is drawn for trace keys, unless the caller's span is the parent (its trace has a
    # root) or the root would only repeat the generation's name
    trace_name = _text(trace.get("trace_name"))
    # an empty trace_id or parent_span_id is absent (README, the span tree)
    trace_id, parent = (trace.get(k) if trace.get(k) != "" else None for k in ("trace_id", "parent_span_id"))
    root = parent is None and bool(trace_name or trace_id is not None) \
        and trace_name != (_text(trace.get("generation_name")) or rec.model)
    expected = root + 1 + bool(trace.get("span_name")) + len(rec.provider_attempts or ())
    assert len(all_spans) == expected
    assert (gen.start_time_unix_nano, gen.end_time_unix_nano) == (rec.start_time_ns, rec.end_time_ns)
    assert bool(gen.parent_span_id) == (root or bool(trace.get("span_name")) or parent is not None)
    a = attrs(gen)
    assert a["gen_ai.response.id"] == ("string", rec.id)
    if rec.completion is not None:
        (message,) = json.loads(a["gen_ai.output.messages"][1])
        assert [p["content"] for p in message["parts"] if p["type"] == "text"] == [rec.completion]
        assert a["output.value"] == ("string", rec.completion)
    if rec.prompt_tokens is not None:
        assert a["gen_ai.usage.input_tokens"] == ("int", rec.prompt_tokens)
    for s in all_spans:
        assert s.trace_id == gen.trace_id and len(s.trace_id) == 16 and any(s.trace_id)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(recs=st.lists(records(), min_size=1, max_size=3), flavor=st.sampled_from(sorted(FLAVORS)))
def test_native_and_python_write_identical_bytes_that_parse(recs, flavor):
    for fmt in ("protobuf", "json"):
        native, python = outcome(NATIVE, recs, fmt, flavor), outcome(PYTHON, recs, fmt, flavor)
        assert native == python
    if native[0] == "error":
        return
    from_pb = parse_pb(outcome(NATIVE, recs, "protobuf", flavor)[1])
    from_json = parse_otlp_json(native[1])
    assert as_dict(from_pb) == as_dict(from_json)
    if flavor == "gen_ai":
        # Each record's spans follow the previous record's, so check them record by record.
        for rec in recs:
            check_model(rec, parse_pb(NATIVE.encode_traces([rec])))


@settings(max_examples=200, deadline=None)
@given(value=json_value | deep_value)
def test_free_values_become_the_same_attribute(value):
    rec = Generation(id="g", start_time_ns=0, end_time_ns=0, model="m", trace={"v": value})
    for fmt in ("protobuf", "json"):
        assert outcome(NATIVE, [rec], fmt, "gen_ai") == outcome(PYTHON, [rec], fmt, "gen_ai")
    result = outcome(NATIVE, [rec], "protobuf", "gen_ai")
    if result[0] == "ok":
        kind, got = any_value([kv for kv in spans(parse_pb(result[1]))[0].attributes if kv.key == "trace.metadata.v"][0].value)
        if isinstance(value, (list, dict)):
            assert kind == "string" and json.loads(got) == json.loads(PYTHON.json_text(value))
        elif isinstance(value, float) and value != value:
            assert kind == "double" and got != got
        elif value is None:
            assert kind == "null"
        elif isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            assert (kind, got) == ("string", str(value))
        else:
            assert got == value
    else:
        assert result[1] == "trace.v" and "nested deeper" in result[2]


def test_typed_fields_out_of_range_fail_alike():
    rec = Generation(id="g", start_time_ns=0, end_time_ns=0, model="m", prompt_tokens=2**70)
    for fmt in ("protobuf", "json"):
        assert outcome(NATIVE, [rec], fmt, "gen_ai") == outcome(PYTHON, [rec], fmt, "gen_ai") == (
            "error",
            "prompt_tokens",
            "integer out of the int64 range",
        )


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"model": 5}, "model"),
        ({"trace": ["not", "a", "dict"]}, "trace"),
        ({"trace": {"trace_id": 1.5}}, "trace.trace_id"),
        ({"model_parameters": {"when": object()}}, "model_parameters.when"),
        ({"messages": [{"content": {1: "int key"}}]}, "messages"),
        ({"start_time_ns": -1}, "start_time_ns"),
        ({"provider_attempts": [{"provider": "x"}]}, "provider_attempts"),
    ],
)
def test_bad_values_fail_alike_and_name_the_field(overrides, field):
    # Records built in Python are not validated by msgspec, so the encoder is the last line of defence.
    base = dict(id="g", start_time_ns=0, end_time_ns=0, model="m")
    base.update(overrides)
    rec = Generation(**base)
    for fmt in ("protobuf", "json"):
        native, python = outcome(NATIVE, [rec], fmt, "gen_ai"), outcome(PYTHON, [rec], fmt, "gen_ai")
        assert native == python
        assert native[0] == "error" and native[1] == field


def test_lone_surrogates_are_replaced_alike():
    rec = Generation(id="g", start_time_ns=0, end_time_ns=0, model="m", completion="a\ud800b", user="\udfff")
    for fmt in ("protobuf", "json"):
        native = outcome(NATIVE, [rec], fmt, "gen_ai")
        assert native == outcome(PYTHON, [rec], fmt, "gen_ai") and native[0] == "ok"
    a = attrs(spans(parse_pb(NATIVE.encode_traces([rec])))[0])
    assert a["user.id"] == ("string", "?")
    assert json.loads(a["gen_ai.output.messages"][1])[0]["parts"] == [{"type": "text", "content": "a?b"}]


def test_hash_is_the_same_function():
    native = __import__("spancast._native", fromlist=["hash64_py"])
    for data in (b"", b"gen-1", "é🚀".encode(), bytes(range(256))):
        for seed in (1, 2, 3, 257):
            assert native.hash64_py(data, seed) == PYTHON.hash64(data, seed)


@settings(max_examples=3000, deadline=None)
@given(
    d=st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=1e-4, max_value=1e15)
    | st.floats(min_value=1e-7, max_value=1e-4)
    | st.integers(1, 10**6).map(lambda i: i / 10**4)
    | st.integers(1, 10**6).map(lambda i: i * 1e-9)
)
def test_native_double_text_is_repr(d):
    # The native encoder writes doubles with a fast exact path and falls back to dtoa; both must be repr().
    assert NATIVE.double_repr(d) == float.__repr__(d)


@pytest.mark.parametrize("text", ["\x01" * 70_000, '"\\' * 50_000, "a\n" * 40_000 + "é" * 1000, "x" * 31 + "\n" + "y" * 33])
def test_escape_heavy_text_alike(text):
    # Escapes grow the text up to sixfold (sevenfold escaped twice): the escaper must stop, let the
    # buffer grow, and resume at the right byte.
    rec = Generation(id="g", start_time_ns=0, end_time_ns=0, model="m", completion=text, user=text[:256])
    for flavor in ("gen_ai", "openinference"):
        for fmt in ("protobuf", "json"):
            native = outcome(NATIVE, [rec], fmt, flavor)
            assert native == outcome(PYTHON, [rec], fmt, flavor) and native[0] == "ok"
    a = attrs(spans(parse_otlp_json(NATIVE.encode_traces([rec], format="json")))[0])
    assert a["output.value"] == ("string", text)
    assert json.loads(a["gen_ai.output.messages"][1])[0]["parts"] == [{"type": "text", "content": text}]


# The flavours and the value cap the vendor presets brought (langfuse, langsmith, max_value_chars).
NATIVE, PYTHON = implementation("native"), implementation("python")

def _outcome(mod, recs, fmt, flavor, cap):
    try:
        enc = mod.TraceEncoder(format=fmt, flavor=flavor, max_value_chars=cap)
        enc.extend(recs)
        return ("ok", enc.finish())
    except EncodeError as exc:
        return ("error", exc.field, exc.reason)

extra_trace = st.fixed_dictionaries({}, optional={
    "environment": st.none() | st.text(max_size=30) | st.integers() | st.lists(st.text(max_size=5), max_size=3),
    "release": st.none() | st.text(max_size=30) | st.floats(),
    "trace_name": st.text(max_size=30),
    "user_id": st.text(max_size=10),
})

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    recs=st.lists(records(), min_size=1, max_size=2),
    extra=extra_trace,
    flavor=st.sampled_from(["gen_ai", "openinference", "langfuse", "langsmith"]),
    cap=st.none() | st.sampled_from([0, 1, 3, 64, 4095]) | st.integers(min_value=0, max_value=300),
)
def test_twins_agree_on_the_new_flavours_and_caps(recs, extra, flavor, cap):
    recs = [msgspec.structs.replace(r, trace={**(r.trace or {}), **extra}) for r in recs]
    for fmt in ("protobuf", "json"):
        native, python = _outcome(NATIVE, recs, fmt, flavor, cap), _outcome(PYTHON, recs, fmt, flavor, cap)
        assert native == python
        if native[0] == "ok":
            (parse_pb if fmt == "protobuf" else parse_otlp_json)(native[1])


# Per-destination id salts (spancast.codec.ids): the twins derive the same salted ids (the trace roots' too),
# in every flavour; salt 0 is no salt.
def _salted(mod, recs, fmt, salt, flavor="gen_ai"):
    try:
        enc = mod.TraceEncoder(format=fmt, flavor=flavor, id_salt=salt)
        enc.extend(recs)
        return ("ok", enc.finish())
    except EncodeError as exc:
        return ("error", exc.field, exc.reason)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(recs=st.lists(records(), min_size=1, max_size=3),
       shared=st.none() | hex32 | st.text(max_size=12),
       salt=st.sampled_from([0, 1, 2**64 - 1]) | st.integers(min_value=0, max_value=2**64 - 1),
       flavor=st.sampled_from(sorted(FLAVORS)))
def test_twins_derive_the_same_salted_ids(recs, shared, salt, flavor):
    if shared is not None:  # records of one trace: one root span per request, its id derived from the trace id
        recs = [msgspec.structs.replace(r, trace={**(r.trace if isinstance(r.trace, dict) else {}), "trace_id": shared})
                for r in recs]
    for fmt in ("protobuf", "json"):
        native = _salted(NATIVE, recs, fmt, salt, flavor)
        assert native == _salted(PYTHON, recs, fmt, salt, flavor)
        if salt == 0:
            assert native == outcome(NATIVE, recs, fmt, flavor)


@pytest.mark.parametrize("salt", [-1, 2**64, 1.5, True, "1"])
def test_a_salt_out_of_range_is_refused_alike(salt):
    for mod in (NATIVE, PYTHON):
        with pytest.raises(ValueError, match="id_salt"):
            mod.TraceEncoder(id_salt=salt)


# The routes' media pre-check (spancast.routing.media.first_maybe_media): the same index from both twins.
media_content = st.none() | st.text(max_size=8) | st.just("data:image/png;base64,AAAA") | st.integers() | \
    st.lists(st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url"])}), max_size=2)
media_message = st.fixed_dictionaries({}, optional={"role": st.just("user"), "content": media_content,
                                                    "audio": st.just({"id": "a"})}) | st.text(max_size=3)
media_records = st.lists(st.one_of(
    st.builds(lambda m: Generation(id="g", model="m", start_time_ns=1, end_time_ns=2, messages=m),
              st.none() | st.lists(media_message, max_size=3)),
    st.just({"messages": [{"content": ["not a record"]}]}),
), max_size=6)


@settings(max_examples=300, deadline=None)
@given(recs=media_records, start=st.integers(min_value=-1, max_value=7))
def test_twins_find_the_same_first_record_that_may_hold_media(recs, start):
    from spancast.routing import media

    assert NATIVE.first_maybe_media(recs, start) == media._first_maybe_media(recs, start)


# The routes' check for generation_* groups a destination withholds (spancast.routing.first_with_groups).
group_records = st.lists(st.one_of(
    st.builds(lambda cost, identity, context: Generation(
        id="g", model="m", start_time_ns=1, end_time_ns=2, generation_cost=cost, generation_identity=identity,
        generation_context=context),
        st.none() | st.just(GenerationCost(upstream_cost=0.5)), st.none() | st.just(GenerationIdentity(app_name="a")),
        st.none() | st.just(GenerationContext(region="eu"))),
    st.just({"generation_cost": {"upstream_cost": 1.0}}),  # not a record: never a hit
), max_size=6)


@settings(max_examples=300, deadline=None)
@given(recs=group_records, start=st.integers(min_value=-1, max_value=7))
def test_twins_find_the_same_first_record_holding_a_group(recs, start):
    from spancast import routing

    assert NATIVE.first_with_groups(recs, start) == routing._first_with_groups(recs, start)
