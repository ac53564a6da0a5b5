"""Attribute plans are data, checked when built: unknown fields, clashing or unescapable keys are refused."""

from __future__ import annotations

import pytest

from spancast import Generation
from spancast.codec import FLAVORS, AttributePlan, Attr, Op, get_plan
from otlp import attrs, parse_pb, spans


def test_unknown_flavor_names_the_known_ones():
    with pytest.raises(ValueError, match="gen_ai, langfuse, langsmith, mlflow, openinference, openrouter"):
        get_plan("langfuse-typo")


@pytest.mark.parametrize(
    "steps, message",
    [
        ((Attr(Op.STR, "a", "no_such_field"),), "unknown record field 'no_such_field'"),
        ((Attr(Op.STR_OR, "a", "model", "nope"),), "unknown record field 'nope'"),
        ((Attr(Op.STR, 'we"ird', "model"),), "characters JSON must escape"),
        ((Attr(Op.JSON_OBJECT, "a", None, (("new\nline", "completion"),)),), "characters JSON must escape"),
        (
            (Attr(Op.STR, "x.model", "model"), Attr(Op.EXPAND, "x.", "model_parameters", frozenset())),
            r"x\.\* would repeat keys \['model'\]",
        ),
        ((Attr(Op.MAP, "a", "provider", "not a mapping"),), "needs \\(mapping"),
        ((Attr(Op.PYFUNC, "a", None, "not callable"),), "function of the record"),
    ],
)
def test_bad_plans_are_refused(steps, message):
    with pytest.raises(ValueError, match=message):
        get_plan(AttributePlan("custom", steps, ()))


def test_a_custom_plan_is_data_both_encoders_follow(impl):
    plan = AttributePlan(
        "mini",
        (
            Attr(Op.CONST, "kind", None, "LLM"),
            Attr(Op.STR, "model", "model"),
            Attr(Op.INT, "tokens", "total_tokens"),
            Attr(Op.EXPAND, "meta.", "trace", frozenset({"trace_id"})),
        ),
        (("kind", "CHAIN"),),
    )
    rec = Generation(id="g", start_time_ns=1, end_time_ns=2, model="m", prompt_tokens=1, completion_tokens=2,
                     trace={"trace_id": "t", "span_name": "outer", "team": "ml"})
    root, mid, gen = spans(parse_pb(impl.encode_traces([rec], flavor=plan)))
    assert attrs(root) == {} and attrs(mid) == {"kind": ("string", "CHAIN")}
    assert attrs(gen) == {
        "kind": ("string", "LLM"),
        "model": ("string", "m"),
        "tokens": ("int", 3),
        "meta.span_name": ("string", "outer"),
        "meta.team": ("string", "ml"),
        "spancast.original_trace_id": ("string", "t"),
    }


def test_model_parameters_never_repeat_record_attributes(impl):
    rec = Generation(id="g", start_time_ns=1, end_time_ns=2, model="m", streamed=True,
                     model_parameters={"model": "other", "stream": False, "seed": 7})
    a = attrs(spans(parse_pb(impl.encode_traces([rec])))[0])
    assert a["gen_ai.request.model"] == ("string", "m") and a["gen_ai.request.stream"] == ("bool", True)
    assert a["gen_ai.request.seed"] == ("int", 7)


def test_flavors_are_plans():
    assert set(FLAVORS) == {"gen_ai", "openinference", "langfuse", "langsmith", "mlflow", "openrouter"}
    assert "steps=" in repr(FLAVORS["gen_ai"])


def test_trace_steps_may_not_repeat_a_key_of_the_spans_they_join():
    with pytest.raises(ValueError, match="a key twice"):
        get_plan(AttributePlan("custom", (Attr(Op.STR, "user.id", "user"),),
                               trace_steps=(Attr(Op.STR, "user.id", "user"),)))
