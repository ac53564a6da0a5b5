"""Per-destination routing: key allowlist, filter rules, sampling and privacy mode, alone and over real HTTP."""

from __future__ import annotations

import hashlib
import math
import re

import msgspec
import pytest

from conftest import full_record
from sinkthread import SinkThread
from spancast import Broadcaster, ConfigError, Generation
from spancast.destinations import make_destination
from spancast.record import CONTENT_FIELDS
from spancast.routing import Route, redact
from spancast.routing.filters import MAX_PATTERN_CHARS, MAX_SCAN_CHARS, FilterRules
from spancast.testing.sink import OtlpSink

COLLECTOR = {"type": "otel-collector", "endpoint": "http://127.0.0.1:4318/v1/traces"}


def one_rule(field, operator, value=None):
    rule = {"field": field, "operator": operator}
    if value is not None:
        rule["value"] = value
    return FilterRules({"groups": [{"rules": [rule]}]}, "f")


def no_tokens(**overrides):
    return full_record(prompt_tokens=None, completion_tokens=None, total_tokens=None, **overrides)


# ------------------------------------------------------------ operators


@pytest.mark.parametrize(
    "field, operator, value, absent, present_result, absent_result",
    [
        # text: record.provider is "OpenAI"
        ("provider", "equals", "OpenAI", {"provider": None}, True, False),
        ("provider", "equals", "openai", {"provider": None}, False, False),  # case-sensitive
        ("provider", "not_equals", "Azure", {"provider": None}, True, True),
        ("provider", "not_equals", "OpenAI", {"provider": None}, False, True),
        ("provider", "contains", "pen", {"provider": None}, True, False),
        ("provider", "not_contains", "pen", {"provider": None}, False, True),
        ("provider", "not_contains", "xyz", {"provider": None}, True, True),
        ("provider", "regex", "^Op.*I$", {"provider": None}, True, False),
        ("provider", "regex", "(?i)^openai$", {"provider": None}, True, False),
        ("provider", "starts_with", "Open", {"provider": None}, True, False),
        ("provider", "starts_with", "AI", {"provider": None}, False, False),
        ("provider", "ends_with", "AI", {"provider": None}, True, False),
        ("provider", "exists", None, {"provider": None}, True, False),
        ("provider", "exists", "ignored", {"provider": None}, True, False),
        ("provider", "not_exists", None, {"provider": None}, False, True),
        # numbers: total_tokens is 1500, total_cost 0.0075
        ("total_tokens", "equals", 1500, {}, True, False),
        ("total_tokens", "equals", "1500.0", {}, True, False),
        ("total_tokens", "not_equals", 1500, {}, False, True),
        ("total_tokens", "gt", 1499, {}, True, False),
        ("total_tokens", "gt", 1500, {}, False, False),
        ("total_tokens", "lt", 1501, {}, True, False),
        ("total_tokens", "lt", 1500, {}, False, False),
        ("total_tokens", "gte", 1500, {}, True, False),
        ("total_tokens", "gte", 1500.5, {}, False, False),
        ("total_tokens", "lte", 1500, {}, True, False),
        ("total_tokens", "lte", 1499.9, {}, False, False),
        ("total_tokens", "exists", None, {}, True, False),
        ("total_tokens", "not_exists", None, {}, False, True),
        ("total_cost", "gt", "0.005", {"total_cost": None}, True, False),
        ("total_cost", "lte", 0.0075, {"total_cost": None}, True, False),
    ],
)
def test_every_operator_on_present_and_absent_values(field, operator, value, absent, present_result, absent_result):
    rules = one_rule(field, operator, value)
    assert rules(full_record()) is present_result
    assert rules(no_tokens(**absent) if field == "total_tokens" else full_record(**absent)) is absent_result


@pytest.mark.parametrize("positive, negative", [("equals", "not_equals"), ("contains", "not_contains"), ("exists", "not_exists")])
@pytest.mark.parametrize("value", ["OpenAI", "Open", "x"])
@pytest.mark.parametrize("provider", ["OpenAI", "", None])
def test_each_not_operator_is_the_exact_negation_of_its_twin(positive, negative, value, provider):
    record = full_record(provider=provider)
    assert one_rule("provider", negative, value)(record) is not one_rule("provider", positive, value)(record)


def test_fields_read_what_the_docs_say():
    rec = full_record(
        user="u-9", session_id="s-1", api_key_name="ci", finish_reason="length", prompt="P-text",
        messages=[{"role": "system", "content": "sys-text"},
                  {"role": "user", "content": [{"type": "text", "text": "part-one"}, {"type": "image_url", "image_url": {"url": "data:x"}}]},
                  {"role": "assistant", "tool_calls": []}],
        completion="C-text", reasoning="R-text",
    )
    assert one_rule("user_id", "equals", "u-9")(rec) and one_rule("session_id", "equals", "s-1")(rec)
    assert one_rule("api_key_name", "equals", "ci")(rec) and one_rule("finish_reason", "equals", "length")(rec)
    assert one_rule("model", "equals", "openai/gpt-4o")(rec) and one_rule("completion_tokens", "equals", 300)(rec)
    assert one_rule("input", "equals", "P-text\nsys-text\npart-one")(rec)  # prompt, then each text, images skipped
    assert one_rule("output", "equals", "C-text")(rec)  # the completion; not the reasoning
    assert not one_rule("output", "contains", "R-text")(rec)
    assert one_rule("input", "not_exists")(full_record(messages=None))
    assert one_rule("input", "equals", "only")(full_record(messages=None, prompt="only"))
    assert one_rule("input", "equals", "")(full_record(messages=[{"role": "user", "content": [{"type": "image_url"}]}]))
    assert one_rule("output", "exists")(full_record(completion=""))  # an empty string exists
    assert one_rule("session_id", "equals", 42)(full_record(session_id="42"))  # a number matches its text


# ------------------------------------------------------------ groups


def rules_of(*groups, **top):
    return FilterRules({"groups": [{"logic": logic, "rules": rules} for logic, rules in groups], **top}, "f")


GPT = {"field": "model", "operator": "equals", "value": "openai/gpt-4o"}
VIP = {"field": "user_id", "operator": "starts_with", "value": "vip"}
BIG = {"field": "total_tokens", "operator": "gt", "value": 1000}


@pytest.mark.parametrize(
    "model, user, tokens, and_group, or_group, two_groups_or, two_groups_and",
    [
        ("openai/gpt-4o", "vip-1", 300, True, True, True, True),
        ("openai/gpt-4o", "user-1", 300, False, True, True, False),
        ("other/model", "vip-1", 300, False, True, True, False),
        ("other/model", "user-1", 300, False, False, False, False),
        ("other/model", "vip-1", 3000, False, True, True, False),
    ],
)
def test_groups_combine_by_logic_and_by_combine(model, user, tokens, and_group, or_group, two_groups_or, two_groups_and):
    rec = full_record(model=model, user=user, prompt_tokens=tokens, completion_tokens=0, total_tokens=None)
    assert rules_of(("and", [GPT, VIP]))(rec) is and_group
    assert rules_of(("or", [GPT, VIP]))(rec) is or_group
    assert rules_of(("and", [GPT]), ("and", [VIP]))(rec) is two_groups_or  # groups combine with "or" by default
    assert rules_of(("and", [GPT]), ("and", [VIP]), combine="or")(rec) is two_groups_or
    assert rules_of(("and", [GPT]), ("and", [VIP]), combine="and")(rec) is two_groups_and


def test_logic_defaults_to_and_and_enabled_to_true():
    rules = FilterRules({"groups": [{"rules": [GPT, VIP]}]}, "f")
    assert rules.enabled and rules.combine == "or"
    assert not rules(full_record()) and rules(full_record(user="vip-2"))
    nulls = FilterRules({"enabled": None, "combine": None, "groups": [{"logic": None, "rules": [GPT, VIP]}]}, "f")
    assert (nulls.enabled, nulls.combine) == (True, "or") and not nulls(full_record())  # null means the default


def test_disabled_rules_are_still_checked_but_let_everything_through():
    config = {"enabled": False, "groups": [{"rules": [{"field": "model", "operator": "equals", "value": "nope"}]}]}
    route = Route("d", filter_rules=config, keep_media=True)
    assert route.passthrough and route.decide(full_record()) == "deliver"
    with pytest.raises(ConfigError):
        Route("d", filter_rules={"enabled": False, "groups": []})


# ------------------------------------------------------------ bad rules

W = "destinations[0].filterRules"
OK = {"field": "model", "operator": "equals", "value": "m"}


def two_groups(rule):
    return {"groups": [{"rules": [OK]}, {"rules": [rule]}]}


@pytest.mark.parametrize(
    "config, path, reason",
    [
        ({}, W + ".groups", "missing required key"),
        ({"groups": []}, W + ".groups", "non-empty list"),
        ({"groups": {"rules": [OK]}}, W + ".groups", "non-empty list"),
        ({"groups": [{"rules": [OK]}], "conditions": []}, W + ".conditions", "unknown key"),
        ({"groups": [{"rules": [OK]}], "enabled": "yes"}, W + ".enabled", "true or false"),
        ({"groups": [{"rules": [OK]}], "combine": "xor"}, W + ".combine", "unknown combine 'xor'"),
        ({"groups": ["model"]}, W + ".groups[0]", "expected a mapping"),
        ({"groups": [{}]}, W + ".groups[0].rules", "missing required key"),
        ({"groups": [{"rules": []}]}, W + ".groups[0].rules", "non-empty list"),
        ({"groups": [{"logic": "nand", "rules": [OK]}]}, W + ".groups[0].logic", "unknown logic 'nand'"),
        ({"groups": [{"rules": [OK], "conditions": 1}]}, W + ".groups[0].conditions", "unknown key"),
        (two_groups("model"), W + ".groups[1].rules[0]", "expected a mapping"),
        (two_groups({**OK, "values": "m"}), W + ".groups[1].rules[0].values", "unknown key"),
        (two_groups({"operator": "equals", "value": "m"}), W + ".groups[1].rules[0].field", "missing required key"),
        (two_groups({**OK, "field": "cost"}), W + ".groups[1].rules[0].field", "unknown field 'cost'"),
        (two_groups({"field": "model", "value": "m"}), W + ".groups[1].rules[0].operator", "missing required key"),
        (two_groups({**OK, "operator": "like"}), W + ".groups[1].rules[0].operator", "unknown operator 'like'"),
        (two_groups({**OK, "operator": "gt", "value": 1}), W + ".groups[1].rules[0].operator", "model, which is text"),
        (two_groups({"field": "total_cost", "operator": "contains", "value": "1"}), W + ".groups[1].rules[0].operator",
         "total_cost, which is a number"),
        (two_groups({"field": "model", "operator": "equals"}), W + ".groups[1].rules[0].value", "needs a value"),
        (two_groups({"field": "model", "operator": "regex", "value": None}), W + ".groups[1].rules[0].value", "needs a value"),
        (two_groups({**OK, "value": True}), W + ".groups[1].rules[0].value", "got bool"),
        (two_groups({**OK, "value": ["m"]}), W + ".groups[1].rules[0].value", "got list"),
        (two_groups({"field": "total_tokens", "operator": "gt", "value": "many"}), W + ".groups[1].rules[0].value",
         "compares numbers"),
        (two_groups({"field": "total_tokens", "operator": "lte", "value": math.nan}), W + ".groups[1].rules[0].value",
         "finite number"),
        (two_groups({"field": "total_tokens", "operator": "equals", "value": "inf"}), W + ".groups[1].rules[0].value",
         "finite number"),
        (two_groups({"field": "input", "operator": "regex", "value": "(unclosed"}), W + ".groups[1].rules[0].value",
         "invalid regex"),
        (two_groups({"field": "input", "operator": "regex", "value": "a" * (MAX_PATTERN_CHARS + 1)}),
         W + ".groups[1].rules[0].value", f"at most {MAX_PATTERN_CHARS}"),
    ],
)
def test_bad_rules_name_the_rule(config, path, reason):
    with pytest.raises(ConfigError) as info:
        make_destination({**COLLECTOR, "filterRules": config}, "destinations[0]")
    assert info.value.path == path and reason in info.value.reason


def test_error_paths_use_the_keys_as_written():
    bad = {"groups": [{"rules": [{**OK, "operator": "like"}]}]}
    for key in ("filterRules", "filter_rules"):
        with pytest.raises(ConfigError) as info:
            make_destination({**COLLECTOR, key: bad}, "destinations[3]")
        assert info.value.path == f"destinations[3].{key}.groups[0].rules[0].operator"
    cases = [
        ({"apiKeyHashes": []}, "d.apiKeyHashes", "at least one"),
        ({"api_key_hashes": []}, "d.api_key_hashes", "at least one"),
        ({"apiKeyHashes": ["k", ""]}, "d.apiKeyHashes[1]", "non-empty string"),
        ({"apiKeyHashes": ["k", 7]}, "d.apiKeyHashes[1]", "expected `str`"),
        ({"samplingRate": 0}, "d.samplingRate", "0.0001 to 1"),
        ({"samplingRate": "half"}, "d.samplingRate", "expected `float`"),
        ({"privacyMode": "yes"}, "d.privacyMode", "expected `bool`"),
        ({"filterRules": []}, "d.filterRules", "expected `object"),
    ]
    for extra, path, reason in cases:
        with pytest.raises(ConfigError) as info:
            make_destination({**COLLECTOR, **extra}, "d")
        assert info.value.path == path and reason in info.value.reason, (extra, info.value)


def test_camel_case_routing_settings_build_the_route():
    d = make_destination({**COLLECTOR, "name": "x", "apiKeyHashes": ["k1"], "samplingRate": 0.5, "privacyMode": True,
                          "filterRules": {"groups": [{"rules": [GPT]}]}})
    assert (d.route.api_key_hashes, d.route.sampling_rate, d.route.privacy_mode) == (frozenset({"k1"}), 0.5, True)
    assert d.route.filter_rules is not None and d.route.name == "x"
    # a destination sends none of the record's generation metadata groups unless its flags say so (OpenRouter's
    # broadcast_generation_* default to false), so its route reads each record for them
    plain = make_destination(COLLECTOR).route
    assert not plain.passthrough and plain.withheld == ("generation_cost", "generation_identity", "generation_context")
    flags = {"broadcastGenerationCost": True, "broadcastGenerationIdentity": True,
             "broadcastGenerationRequestContext": True}
    everything = make_destination({**COLLECTOR, **flags}).route
    assert not everything.passthrough and everything.withheld == ()  # it strips media
    assert make_destination({**COLLECTOR, **flags, "keepMedia": True}).route.passthrough
    assert not make_destination({**COLLECTOR, "keepMedia": True}).route.passthrough  # it withholds the groups


def test_generation_metadata_goes_only_where_its_flag_is_on():
    from spancast.record import GenerationContext, GenerationCost, GenerationIdentity

    rec = full_record(generation_cost=GenerationCost(upstream_cost=0.004, is_byok=False),
                      generation_identity=GenerationIdentity(app_name="checkout-app"),
                      generation_context=GenerationContext(router_latency_ms=12.5))
    (plain,), _, _ = make_destination(COLLECTOR).route.select([rec])
    assert (plain.generation_cost, plain.generation_identity, plain.generation_context) == (None, None, None)
    assert plain.completion == rec.completion and rec.generation_cost is not None  # the record itself is untouched
    cost = make_destination({**COLLECTOR, "broadcastGenerationCost": True, "privacyMode": True}).route
    (kept,), _, _ = cost.select([rec])
    assert kept.generation_cost == rec.generation_cost and kept.generation_identity is None
    assert kept.completion is None  # privacy mode still applies
    # only the records that hold a group are copied, wherever they are, from a list or any other sequence
    bare = [full_record(1), rec, full_record(2), rec]
    for given in (bare, tuple(bare)):
        out, _, _ = make_destination(COLLECTOR).route.select(given)
        assert out[0] is bare[0] and out[2] is bare[2] and out[1] is not rec and out[3] is not rec
        assert out[1].generation_cost is None and out[3].generation_identity is None


def test_the_default_route_withholds_the_groups_and_strips_media_in_one_pass():
    """The default destination (flags off, media stripped, nothing to decide): the records that hold neither
    a group nor media go as they are, in the very list given; the others are replaced, each fixed alike."""
    from spancast.record import GenerationCost

    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    route = make_destination(COLLECTOR).route
    clean = [full_record(i) for i in range(3)]
    assert route.select(clean)[0] is clean
    grouped = full_record(3, generation_cost=GenerationCost(upstream_cost=0.5))
    pictured = full_record(4, messages=[{"role": "user", "content": [image]}])
    both = msgspec.structs.replace(pictured, id="both", generation_cost=GenerationCost(upstream_cost=0.5))
    given = [clean[0], grouped, pictured, both]
    kept: list[int] = []
    out, filtered, sampled = route.select(given, kept)
    assert (filtered, sampled, kept) == (0, 0, [0, 1, 2, 3]) and out is not given and out[0] is clean[0]
    assert [r.generation_cost for r in out] == [None] * 4
    assert out[1].messages == grouped.messages  # no media in it: only the group went
    for r in out[2:]:
        assert r.messages[0]["content"][0]["type"] == "stripped"
    assert given[3].generation_cost is not None and given[3].messages[0]["content"][0] == image  # untouched


# ------------------------------------------------------------ regex bounds


def test_a_regex_is_compiled_once_at_configuration(monkeypatch):
    rules = one_rule("input", "regex", r"gr[ae]y\d+")
    assert [p.pattern for p in rules.patterns] == [r"gr[ae]y\d+"] and isinstance(rules.patterns[0], re.Pattern)

    def no_compiling(*args, **kwargs):
        raise AssertionError("a regex was compiled while routing")

    monkeypatch.setattr(re, "_compile", no_compiling)
    monkeypatch.setattr(re, "compile", no_compiling)
    assert rules(full_record(messages=[{"role": "user", "content": "grey42"}]))
    assert not rules(full_record())


def test_a_regex_scans_only_the_first_max_scan_chars():
    needle = "NEEDLE"
    inside = full_record(completion="a" * (MAX_SCAN_CHARS - len(needle)) + needle)
    outside = full_record(completion="a" * (MAX_SCAN_CHARS - len(needle) + 1) + needle)
    assert one_rule("output", "regex", needle)(inside) and not one_rule("output", "regex", needle)(outside)
    assert one_rule("output", "contains", needle)(outside)  # linear operators see the whole text
    assert one_rule("output", "regex", "a" * MAX_PATTERN_CHARS).patterns  # the longest pattern allowed


# ------------------------------------------------------------ key allowlist


def test_the_key_allowlist_admits_only_listed_hashes_and_never_a_record_without_one():
    route = Route("d", api_key_hashes=["k1", "k2"])
    assert route.decide(full_record(api_key_hash="k2")) == "deliver"
    assert route.decide(full_record(api_key_hash="k3")) == "filtered"
    assert route.decide(full_record(api_key_hash=None)) == "filtered"
    assert Route("d", api_key_hashes=None).decide(full_record(api_key_hash=None)) == "deliver"


# ------------------------------------------------------------ sampling


@pytest.mark.parametrize("rate", [0.0001, 0.5, 1, 1.0])
def test_sampling_rates_in_bounds(rate):
    assert Route("d", sampling_rate=rate).sampling_rate == rate


@pytest.mark.parametrize("rate", [0, 0.00009, 1.0001, 2, -0.5, math.nan, math.inf, True, "0.5", None])
def test_sampling_rates_out_of_bounds(rate):
    with pytest.raises(ConfigError) as info:
        Route("d", sampling_rate=rate, where="destinations[2]")
    assert info.value.path == "destinations[2].sampling_rate"


def test_sampling_keeps_or_drops_a_whole_session_the_same_way_every_time():
    a, again = Route("tempo", sampling_rate=0.5), Route("tempo", sampling_rate=0.5)
    for s in range(200):
        verdicts = {r.decide(full_record(i, session_id=f"s-{s}")) for i in range(5) for r in (a, again)}
        assert len(verdicts) == 1  # every record of the session, from either instance
    # without a session a record samples by its own id
    by_id = [a.decide(full_record(i, session_id=None)) for i in range(200)]
    assert by_id == [again.decide(full_record(i, session_id=None, user="other")) for i in range(200)]
    assert set(by_id) == {"deliver", "sampled_out"}


def test_the_sample_point_is_the_documented_hash():
    route = Route("langfuse-prod", sampling_rate=0.25)
    key = hashlib.blake2b(b"langfuse-prod", digest_size=32, person=b"spancast.sample").digest()
    for rec in (full_record(session_id="sess-1"), full_record(3, session_id=None)):
        digest = hashlib.blake2b((rec.session_id or rec.id).encode(), digest_size=8, key=key).digest()
        point = int.from_bytes(digest, "big") / 2**64
        assert route.sample_point(rec) == point
        assert route.decide(rec) == ("deliver" if point < 0.25 else "sampled_out")


def test_destinations_sample_independently_and_in_proportion():
    n, rate = 10_000, 0.3
    records = [full_record(i, session_id=f"session-{i}") for i in range(n)]
    kept = {}
    for name in ("alpha", "beta"):
        selected, filtered, sampled_out = Route(name, sampling_rate=rate).select(records)
        assert filtered == 0 and len(selected) + sampled_out == n
        kept[name] = {r.id for r in selected}
    # The hash is fixed, so this is deterministic; 5 standard deviations keeps it meaningful, not lucky.
    sd = math.sqrt(n * rate * (1 - rate))
    for ids in kept.values():
        assert abs(len(ids) - n * rate) < 5 * sd
    both, p_both = len(kept["alpha"] & kept["beta"]), rate * rate  # independent: overlap ~ n * rate²
    assert kept["alpha"] != kept["beta"]
    assert abs(both - n * p_both) < 5 * math.sqrt(n * p_both * (1 - p_both))


def test_at_rate_one_nothing_is_hashed():
    route = Route("d", sampling_rate=1.0, api_key_hashes=["k"])
    route._hasher = None  # hashing would fail now
    assert route.decide(full_record(api_key_hash="k")) == "deliver"


# ------------------------------------------------------------ privacy


def content_record():
    return full_record(prompt="the prompt", reasoning="the reasoning", cache_write_tokens=5, cancelled=False,
                       tool_calls=[{"id": "c1", "function": {"name": "f", "arguments": "{}"}}], api_key_hash="k1",
                       error_message="kept", provider_attempts=[])


def test_privacy_removes_the_five_content_fields_and_nothing_else():
    rec = content_record()
    before = msgspec.structs.asdict(rec)
    out = redact(rec)
    after = msgspec.structs.asdict(out)
    assert msgspec.structs.asdict(rec) == before  # the original is untouched (other destinations share it)
    assert set(CONTENT_FIELDS) == {"messages", "prompt", "completion", "reasoning", "tool_calls"}
    for field, value in before.items():
        assert after[field] == (None if field in CONTENT_FIELDS else value), field
    assert all(before[f] is not None for f in CONTENT_FIELDS)


def test_privacy_mode_redacts_what_passes_and_filters_nothing():
    route = Route("d", privacy_mode=True)
    records = [content_record(), full_record(1)]
    selected, filtered, sampled_out = route.select(records)
    assert (filtered, sampled_out) == (0, 0) and [r.id for r in selected] == [r.id for r in records]
    assert all(getattr(r, f) is None for r in selected for f in CONTENT_FIELDS)
    assert records[0].completion == "OTLP is the OpenTelemetry Protocol."


# ------------------------------------------------------------ select and repr


def test_a_passthrough_route_returns_the_same_list_without_reading_the_records():
    untouchable = [object(), object()]  # attribute access would raise
    for route in (Route("d", keep_media=True), Route("d", sampling_rate=1, keep_media=True),
                  Route("d", filter_rules={"enabled": False, "groups": [{"rules": [GPT]}]}, keep_media=True)):
        selected, filtered, sampled_out = route.select(untouchable)
        assert selected is untouchable and (filtered, sampled_out) == (0, 0) and route.passthrough


def test_select_applies_the_steps_in_order_and_counts_each():
    route = Route("d", api_key_hashes=["k1"], filter_rules={"groups": [{"rules": [GPT]}]}, sampling_rate=0.5)
    records = [full_record(i, api_key_hash=["k1", "k2"][i % 2], model=["openai/gpt-4o", "m/x"][i // 2 % 2],
                           session_id=f"s{i}") for i in range(400)]
    verdicts = [route.decide(r) for r in records]
    selected, filtered, sampled_out = route.select(records)
    assert [r.id for r in selected] == [r.id for r, v in zip(records, verdicts) if v == "deliver"]
    assert filtered == verdicts.count("filtered") == 300  # filtered records are never counted as sampled
    assert sampled_out == verdicts.count("sampled_out") and 0 < sampled_out < 100


def test_select_hands_what_it_cannot_read_to_the_encoder():
    odd = {"id": "not a Generation"}
    selected, filtered, sampled_out = Route("d", privacy_mode=True).select([odd])
    assert selected == [odd] and (filtered, sampled_out) == (0, 0)  # the encoder drops it as invalid_record


def test_reprs_show_counts_not_values():
    route = Route("tempo", api_key_hashes=["hash-secret"], sampling_rate=0.25, privacy_mode=True,
                  filter_rules={"combine": "and", "groups": [{"rules": [{**VIP, "value": "vip-secret"}, GPT]}, {"rules": [GPT]}]})
    assert repr(route) == "<Route dest='tempo' api_keys=1 rules=3 in 2 groups, combine=and sampling_rate=0.25 privacy_mode>"
    assert repr(route.filter_rules) == "<FilterRules rules=3 groups=2 combine=and>"
    assert repr(Route("tempo", keep_media=True)) == "<Route dest='tempo' passthrough>"
    assert repr(Route("tempo")) == "<Route dest='tempo' strip_media>"
    redacting = Route("tempo", keep_media=True, privacy_mode=True, privacy_keep_error_messages=True,
                      redact_fields=["user"], redact_patterns=["email"], redact_regexes=["secret-[0-9]+"])
    assert repr(redacting) == ("<Route dest='tempo' privacy_mode+error_messages keep_media"
                               " <Redaction fields=1 patterns=email regexes=1>>")
    assert "secret" not in repr(route) + repr(route.filter_rules)


# ------------------------------------------------------------ end to end


def secret_texts(rec: Generation) -> list[bytes]:
    texts = [rec.prompt, rec.completion, rec.reasoning, rec.tool_calls[0]["function"]["arguments"]]
    texts += [m["content"] for m in rec.messages]
    return [t.encode() for t in texts]


def test_two_destinations_get_their_own_records_over_http():
    recs = [
        full_record(
            i,
            model="openai/gpt-4o" if i % 3 == 0 else "anthropic/claude",
            user=f"vip-{i}" if i % 5 == 0 else f"user-{i}",
            api_key_hash=["k1", "k2", "k3", None][i % 4],
            session_id=f"sess-{i // 4}",
            prompt=f"prompt-secret-{i}#",
            messages=[{"role": "user", "content": f"message-secret-{i}# ümlaut"}],
            completion=f"completion-secret-{i}#",
            reasoning=f"reasoning-secret-{i}#",
            tool_calls=[{"id": f"call-{i}", "function": {"name": "lookup", "arguments": f"args-secret-{i}#"}}],
        )
        for i in range(240)
    ]
    rules = {"groups": [{"rules": [GPT]}, {"logic": "and", "rules": [VIP, BIG]}]}
    with SinkThread(OtlpSink()) as ruled, SinkThread(OtlpSink()) as private, SinkThread(OtlpSink()) as off:
        config = [
            {"type": "otel-collector", "name": "ruled", "endpoint": ruled.url, "apiKeyHashes": ["k1", "k2"], "filterRules": rules,
             "flavor": "openrouter", "encoding": "protobuf"},  # the flavour that carries prompt and messages both
            {"type": "otel-collector", "name": "private", "endpoint": private.url, "samplingRate": 0.5, "privacyMode": True},
            {"type": "otel-collector", "name": "off", "endpoint": off.url, "enabled": False},
        ]
        with Broadcaster(config, max_batch_records=32) as b:
            for r in recs:
                assert b.emit(r)
            assert b.flush(10)
            stats = b.stats()["destinations"]
            route = b.destinations[1].route
        ruled_bodies = b"".join(r.body for r in ruled.received)
        private_bodies = b"".join(r.body for r in private.received)
        private_spans = [s for r in private.received for s in r.spans]
        got = {"ruled": ruled.generation_ids(), "private": private.generation_ids(), "off": off.generation_ids()}

    want_ruled = [r.id for r in recs if r.api_key_hash in ("k1", "k2") and (r.model == "openai/gpt-4o" or r.user.startswith("vip"))]
    want_private = [r.id for r in recs if route.decide(r) == "deliver"]
    assert sorted(got["ruled"]) == sorted(want_ruled) and 0 < len(want_ruled) < 240
    assert sorted(got["private"]) == sorted(want_private) and 60 < len(want_private) < 180
    kept_sessions = {r.session_id for r in recs if r.id in set(want_private)}
    assert len(want_private) == 4 * len(kept_sessions)  # whole sessions, 4 records each
    assert got["off"] == [] and "off" not in stats  # a disabled destination has no lane
    expect = {"ruled": (len(want_ruled), 240 - len(want_ruled), 0), "private": (len(want_private), 0, 240 - len(want_private))}
    for name, (delivered, filtered, sampled_out) in expect.items():
        d = stats[name]
        assert (d["received"], d["delivered"], d["filtered"], d["sampled_out"]) == (240, delivered, filtered, sampled_out)
        assert d["delivered"] + sum(d["dropped"].values()) + d["filtered"] + d["sampled_out"] + d["queued"] + d["in_flight"] == 240
    # Privacy: no content reaches "private", while "ruled" (no privacy) shows that the search finds it.
    assert b"secret" not in private_bodies
    for r in recs:
        for text in secret_texts(r):
            assert text not in private_bodies
            assert (text in ruled_bodies) is (r.id in want_ruled), text
    assert all(s["attributes"].get("gen_ai.usage.total_tokens") == 1500 for s in private_spans if "gen_ai.response.id" in s["attributes"])
    assert all(s["attributes"].get("gen_ai.conversation.id", "").startswith("sess-") for s in private_spans if "gen_ai.response.id" in s["attributes"])
