"""The native json_text against its Python twin (values.json_text): the same text for every value, the same errors.

The flavour shapes of both encoders call the selected one (spancast.codec.json_text), so the encoders' twin
tests cannot tell the two writers apart: this file is where they are held to each other.
"""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spancast import codec
from spancast.codec import values
from spancast.codec.wire import utf8
from spancast.errors import EncodeError

native = codec.implementation("native")

# Text without lone surrogates (those are the one documented difference, tested below).
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1e-7, 9.999e-5, 1e-4, 1e15, 1e16, 123456789.123, 5e-324, 1.7976931348623157e308, 0.1 + 0.2])
ints = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from([2**63 - 1, -(2**63), 2**63, -(2**63) - 1])
scalars = st.none() | st.booleans() | ints | floats | texts
values_ = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
    | st.dictionaries(texts, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(values_)
def test_native_writes_what_the_python_twin_writes(value):
    assert native.json_text(value, "model_parameters") == values.json_text(value, "model_parameters")


def test_the_selected_writer_is_the_native_one_where_it_is_built():
    assert codec.json_text is (native.json_text if codec.IMPL == "native" else values.json_text)


@pytest.mark.parametrize("value", [1.5, -2.25e-300, math.pi, 2.0**53 + 1, 1e22, 1e23, -1e-5])
def test_floats_read_back(value):
    assert float(native.json_text(value)) == value == float(values.json_text(value))


@pytest.mark.parametrize("value, message", [
    ({1: "x"}, "object key 1 is not a string"),
    ([{"a": object()}], "unsupported type object"),
    ({"a": {1, 2}}, "unsupported type set"),
    (b"raw", "unsupported type bytes"),
])
def test_the_same_errors_name_the_field(value, message):
    for writer in (native.json_text, values.json_text):
        with pytest.raises(EncodeError) as caught:
            writer(value, "trace")
        assert caught.value.field == "trace" and message in str(caught.value)


def test_nesting_beyond_the_limit_is_an_error_in_both():
    deep = inner = []
    for _ in range(values.MAX_JSON_DEPTH):
        inner.append([])
        inner = inner[0]
    for writer in (native.json_text, values.json_text):
        with pytest.raises(EncodeError, match="nested deeper than 256 levels"):
            writer(deep, "messages")
    shallow = inner = []
    for _ in range(values.MAX_JSON_DEPTH - 2):
        inner.append([])
        inner = inner[0]
    assert native.json_text(shallow) == values.json_text(shallow)


def test_lone_surrogates_become_what_the_encoders_send():
    # The Python twin keeps the surrogate in its text; the bytes its callers send (utf8: '?') are the native text's.
    value = {"note": "a\ud800b", "\udfffk": ["\ud83d"]}
    assert native.json_text(value) == '{"note":"a?b","?k":["?"]}'
    assert utf8(values.json_text(value)) == native.json_text(value).encode()
