"""Per-destination redaction: listed fields dropped, emails, card numbers and custom patterns masked, before rendering."""

from __future__ import annotations

import json

import msgspec
import pytest

from conftest import attempts_record, full_record
from sinkthread import SinkThread
from spancast import Broadcaster, ConfigError, ProviderAttempt
from spancast.routing import Redaction, Route
from spancast.testing.sink import OtlpSink

CARD = "4111 1111 1111 1111"  # passes the Luhn check
NOT_A_CARD = "4111 1111 1111 1112"


def test_fields_are_dropped_at_any_depth_and_through_lists():
    record = msgspec.structs.replace(
        attempts_record(),
        trace={"trace_id": "t-1", "customer_email": "a@b.example", "tier": "gold"},
        messages=[{"role": "user", "name": "alice", "content": "hi"}, {"role": "assistant", "content": "yo"}],
        tool_calls=[{"id": "c", "function": {"name": "f", "arguments": "{\"card\": 1}"}}],
        model_parameters={"temperature": 0.1, "tools": [{"type": "function"}]},
    )
    r = Redaction(["user", "trace.customer_email", "messages.name", "tool_calls.function.arguments",
                   "model_parameters.tools", "provider_attempts.error", "trace.absent.deeper"])
    out = r.apply(record)
    assert out.user is None and out.trace == {"trace_id": "t-1", "tier": "gold"}
    assert out.messages == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    assert out.tool_calls == [{"id": "c", "function": {"name": "f"}}]
    assert out.model_parameters == {"temperature": 0.1}
    assert [a.error for a in out.provider_attempts] == [None, None, None]
    assert [a.status for a in out.provider_attempts] == [503, 200, 429]
    assert record.user == "user-42" and "customer_email" in record.trace  # the record given is left as it was


@pytest.mark.parametrize("fields, message", [
    (["id"], "'id' cannot be dropped"),
    (["status"], "'status' cannot be dropped"),
    (["nonsense"], "'nonsense' cannot be dropped"),
    (["trace..x"], "expected a field path"),
    (["provider_attempts.provider"], "provider_attempts.provider cannot be dropped"),
])
def test_fields_that_cannot_be_dropped_are_refused_with_their_path(fields, message):
    with pytest.raises(ConfigError) as info:
        Broadcaster([{"type": "otel-collector", "endpoint": "http://127.0.0.1:9/v1/traces", "redactFields": fields}])
    assert info.value.path == "destinations[0].redactFields[0]" and message in info.value.reason


def test_emails_cards_addresses_and_custom_patterns_are_masked_everywhere_but_in_ids():
    text = f"mail bob.smith+x@mail.example.co.uk, pay {CARD} not {NOT_A_CARD}, from 10.0.0.254, ticket ZX-99812"
    record = full_record(
        id="gen-bob@mail.example.co.uk",
        user="carol@shop.example",
        completion=text,
        messages=[{"role": "user", "content": [{"type": "text", "text": text}]}],
        error_message=text,
        model_parameters={"metadata": {"owner": "dave@corp.example"}, "temperature": 0.2},
        trace={"trace_id": "run-eve@corp.example", "note": text, "n": 3},
        provider_attempts=[ProviderAttempt(provider="P", status=500, error=text)],
    )
    r = Redaction(patterns=["email", "card_number", "ipv4"], regexes=[r"ZX-\d+"])
    out = r.apply(record)
    masked = "mail <EMAIL>, pay <CARD_NUMBER> not 4111 1111 1111 1112, from <IPV4>, ticket <REDACTED>"
    assert out.completion == out.error_message == out.messages[0]["content"][0]["text"] == masked
    assert out.trace == {"trace_id": "run-eve@corp.example", "note": masked, "n": 3}  # trace_id links spans: kept
    assert out.provider_attempts[0].error == masked and out.user == "<EMAIL>"
    assert out.model_parameters == {"metadata": {"owner": "<EMAIL>"}, "temperature": 0.2}
    assert out.id == record.id and out.model == record.model


def test_nothing_to_mask_gives_back_the_same_record():
    r = Redaction(patterns=["email", "card_number"], regexes=["never-there"])
    record = full_record()
    assert r.apply(record) is record and bool(r)
    assert not Redaction() and Route("d", keep_media=True, redact_fields=[]).passthrough


@pytest.mark.parametrize("key, values, message", [
    ("redactPatterns", ["email", "phone"], "unknown pattern 'phone'; built in: email, card_number, ipv4"),
    ("redactRegexes", ["ok", "(unclosed"], "not a regular expression"),
    ("redactRegexes", ["ok", "x*"], "matches the empty string"),
])
def test_bad_patterns_are_refused_with_their_path(key, values, message):
    with pytest.raises(ConfigError) as info:
        Broadcaster([{"type": "otel-collector", "endpoint": "http://127.0.0.1:9/v1/traces", key: values}])
    assert info.value.path == f"destinations[0].{key}[1]" and message in info.value.reason


def test_the_generation_metadata_groups_are_dropped_and_masked_like_the_rest():
    """generation_identity (app name and URL, external user) and generation_context's region are strings a
    caller fills: privacy mode keeps them (OpenRouter's does), so redaction must reach them."""
    from spancast.record import GenerationContext, GenerationCost, GenerationIdentity

    identity = GenerationIdentity(app_name="Acme for bob@acme.example", app_url="https://acme.example/u/10.1.2.3",
                                  external_user="carol@shop.example")
    record = full_record(generation_identity=identity, generation_cost=GenerationCost(upstream_cost=0.25),
                         generation_context=GenerationContext(region="ZX-99812", router_latency_ms=3.0))
    masked = Redaction(patterns=["email", "ipv4"], regexes=[r"ZX-\d+"]).apply(record)
    assert masked.generation_identity == GenerationIdentity(
        app_name="Acme for <EMAIL>", app_url="https://acme.example/u/<IPV4>", external_user="<EMAIL>")
    assert masked.generation_context == GenerationContext(region="<REDACTED>", router_latency_ms=3.0)
    assert masked.generation_cost is record.generation_cost and record.generation_identity is identity
    dropped = Redaction(["generation_identity.external_user", "generation_context.region",
                         "generation_cost"]).apply(record)
    assert dropped.generation_identity == GenerationIdentity(app_name=identity.app_name, app_url=identity.app_url)
    assert dropped.generation_context == GenerationContext(router_latency_ms=3.0) and dropped.generation_cost is None
    nothing = Redaction(patterns=["email"]).apply(full_record(generation_identity=GenerationIdentity(app_name="x")))
    assert nothing.generation_identity == GenerationIdentity(app_name="x")
    for bad in ("generation_identity.email", "generation_identity.app_name.x"):
        with pytest.raises(ConfigError, match="names no field of generation_identity"):
            Redaction([bad])
    # through a destination that asks for the group, in privacy mode: kept, and masked
    b = Broadcaster([{"type": "otel-collector", "endpoint": "http://127.0.0.1:9/v1/traces", "encoding": "json",
                      "flavor": "openrouter", "privacyMode": True, "broadcastGenerationIdentity": True,
                      "redactPatterns": ["email"]}])
    body = json.dumps(b.preview(record, "otel-collector")["body"])
    assert "carol@shop.example" not in body and "bob@acme.example" not in body and "<EMAIL>" in body


def test_redaction_applies_per_destination_before_rendering():
    record = full_record(user="carol@shop.example", completion="call me at carol@shop.example")
    with SinkThread(OtlpSink()) as sink:
        destinations = [
            {"type": "otel-collector", "name": "everything", "endpoint": sink.url},
            {"type": "otel-collector", "name": "masked", "endpoint": sink.url, "resource": {"copy": "masked-copy"},
             "redact_fields": ["trace.customer_tier"], "redact_patterns": ["email"]},
        ]
        with Broadcaster(destinations) as b:
            b.emit(record)
            assert b.flush(10)
            assert repr(b.destinations[1].route) == "<Route dest='masked' <Redaction fields=1 patterns=email regexes=0>>"
    bodies = {b"masked-copy" in r.body: r.body for r in sink.received}
    masked, everything = bodies[True], bodies[False]
    assert b"carol@shop.example" in everything and b"customer_tier" in everything
    assert b"carol@shop.example" not in masked and b"<EMAIL>" in masked and b"customer_tier" not in masked
    assert json.dumps(record.trace).count("gold") == 1  # the record itself still holds everything


def test_values_nested_too_deep_to_walk_are_dropped_not_sent_unmasked():
    deep: object = "mail me at a@b.example"
    for _ in range(5000):
        deep = [deep]
    record = full_record(messages=[{"role": "user", "content": [{"type": "text", "text": "x"}, {"deep": deep}]}],
                         trace={"deep": deep})
    out = Route("d", redact_patterns=["email"], redact_fields=["tool_calls.x"]).select([record])[0][0]
    assert out.messages is None and out.trace is None and out.completion == record.completion
