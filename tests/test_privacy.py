"""Privacy mode sends no free text: content, error messages and text parameters go; metadata stays."""

from __future__ import annotations

import json

import msgspec
import pytest

from conftest import attempts_record, full_record
from spancast import Broadcaster, ConfigError, Generation, ProviderAttempt
from spancast.record import CONTENT_FIELDS, METADATA_FIELDS, TEXT_FIELDS
from spancast.routing import Route, privacy_reduce
from spancast.routing.privacy import reduce_parameters

PARAMETERS = {
    "temperature": 0.2, "max_tokens": 512, "top_p": 1, "seed": 7, "stream": True, "n": None,
    "stop": ["END OF SECRET"], "logit_bias": {"50256": -100, "not a token": 5},
    "reasoning_effort": "high", "verbosity": "shouting secretly", "service_tier": "flex",
    "modalities": ["text", "audio", "whisper secret"],
    "tools": [
        {"type": "function", "function": {"name": "get_weather", "description": "SECRET tool text",
                                          "parameters": {"type": "object", "properties": {"SECRET_FIELD": {"type": "string"}}}}},
        {"type": "web_search_preview", "search_context_size": "high"},
        {"name": "lookup", "description": "Anthropic-style SECRET", "input_schema": {"type": "object"}},
        {"type": "function", "function": {"name": "a name with SECRET words", "description": "x"}},
    ],
    "functions": [{"name": "legacy_fn", "description": "SECRET", "parameters": {}}],
    "tool_choice": {"type": "function", "function": {"name": "get_weather", "description": "SECRET"}},
    "response_format": {"type": "json_schema", "json_schema": {"name": "SECRET_schema", "schema": {"properties": {"SECRET": {}}}}},
    "reasoning": {"effort": "medium", "max_tokens": 200, "exclude": False, "note": "SECRET"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "prediction": {"type": "content", "content": "SECRET predicted text"},
    "metadata": {"customer": "SECRET customer", "score": 3},
    "web_search_options": {"search_context_size": "low", "user_location": {"approximate": {"city": "SECRET town"}}},
    "a key with spaces": 1,
}


def test_text_fields_and_metadata_fields_cover_the_record_once():
    fields = set(Generation.__struct_fields__)
    assert set(TEXT_FIELDS) | set(METADATA_FIELDS) == fields and not set(TEXT_FIELDS) & set(METADATA_FIELDS)
    assert set(CONTENT_FIELDS) < set(TEXT_FIELDS)


def test_the_fields_issue_14_added_are_metadata_and_privacy_mode_keeps_them():
    """Counts, costs, latencies, and who called (generation_identity: the app's name and URL, the caller's user
    id, like ``user``; generation_context's region): none holds the user's or the model's text, so privacy mode
    keeps each where the destination's broadcast_generation_* flag lets it through, as OpenRouter's does.
    Redaction reaches their strings (test_redaction)."""
    from spancast.record import GenerationContext, GenerationCost, GenerationIdentity

    added = ("cache_write_5m_tokens", "cache_write_1h_tokens", "web_search_requests", "generation_cost",
             "generation_identity", "generation_context")
    assert set(added) <= set(METADATA_FIELDS) and not set(added) & set(TEXT_FIELDS)
    record = full_record(cache_write_5m_tokens=3, cache_write_1h_tokens=4, web_search_requests=2,
                         generation_cost=GenerationCost(upstream_cost=0.1, is_byok=True),
                         generation_identity=GenerationIdentity(app_name="acme", app_url="https://acme.example",
                                                                external_user="u-1"),
                         generation_context=GenerationContext(router_latency_ms=2.0, region="us-east"))
    (kept,), _, _ = Route("d", privacy_mode=True).select([record])
    assert all(getattr(kept, name) == getattr(record, name) for name in added) and kept.completion is None
    withheld = Broadcaster([{"type": "otel-collector", "endpoint": "http://127.0.0.1:9/v1/traces", "encoding": "json",
                             "flavor": "openrouter", "privacyMode": True, "broadcastGenerationIdentity": True}])
    body = json.dumps(withheld.preview(record, "otel-collector")["body"])
    assert "https://acme.example" in body and "us-east" not in body  # identity asked for, context not


def test_privacy_mode_keeps_metadata_and_drops_every_text():
    record = attempts_record()  # an error with an error message and attempts that failed with theirs
    record = msgspec.structs.replace(record, model_parameters=PARAMETERS, reasoning="SECRET thoughts",
                                     tool_calls=[{"function": {"name": "f", "arguments": "{\"q\": \"SECRET\"}"}}])
    reduced = privacy_reduce(record)
    for name in METADATA_FIELDS:
        assert getattr(reduced, name) == getattr(record, name), name
    assert all(getattr(reduced, name) is None for name in CONTENT_FIELDS + ("error_message",))
    assert [(a.provider, a.status, a.latency_ms, a.error) for a in reduced.provider_attempts] == [
        ("OpenAI", 503, 120.5, None), ("Azure", 200, 300.0, None), ("Together", 429, None, None)]
    assert (reduced.status, reduced.error_type) == ("error", "upstream_error")  # type and status stay
    assert "SECRET" not in json.dumps(msgspec.to_builtins(reduced))
    assert record.error_message == "All providers failed" and record.provider_attempts[0].error == "overloaded"


def test_model_parameters_keep_numbers_known_words_and_tool_names_only():
    assert reduce_parameters(PARAMETERS) == {
        "temperature": 0.2, "max_tokens": 512, "top_p": 1, "seed": 7, "stream": True, "n": None,
        "logit_bias": {"50256": -100}, "reasoning_effort": "high", "service_tier": "flex",
        "modalities": ["text", "audio"],
        "tools": [{"type": "function", "function": {"name": "get_weather"}}, {"type": "web_search_preview"},
                  {"name": "lookup"}, {"type": "function"}],
        "functions": [{"name": "legacy_fn"}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_schema"},
        "reasoning": {"effort": "medium", "max_tokens": 200, "exclude": False},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "web_search_options": {"search_context_size": "low"},
    }
    assert reduce_parameters({"stop": "x", "metadata": {"a": "b"}}) is None  # nothing left: no parameters at all
    assert reduce_parameters({"tool_choice": "required", "response_format": "json_object"}) == {
        "tool_choice": "required", "response_format": "json_object"}


def test_a_destination_may_keep_error_messages_in_privacy_mode():
    record = attempts_record()
    kept = privacy_reduce(record, keep_error_messages=True)
    assert kept.error_message == "All providers failed" and kept.provider_attempts[0].error == "overloaded"
    assert kept.messages is None and kept.completion is None
    selected, _, _ = Route("d", privacy_mode=True, privacy_keep_error_messages=True).select([record])
    assert selected[0].error_message == "All providers failed"
    with pytest.raises(ConfigError, match=r"destinations\[0\]\.privacyKeepErrorMessages: expected `bool`"):
        Broadcaster([{"type": "otel-collector", "endpoint": "http://127.0.0.1:9/v1/traces",
                      "privacyKeepErrorMessages": "yes"}])


def test_privacy_mode_on_every_kind_of_error_output():
    """The OTLP status, the warehouses' column, Datadog's meta.error: the constant, never the message."""
    record = attempts_record()
    b = Broadcaster([{"type": "otel-collector", "name": "c", "endpoint": "http://127.0.0.1:9/v1/traces",
                      "encoding": "json", "privacyMode": True},
                     {"type": "clickhouse", "name": "ch", "host": "http://127.0.0.1:9", "privacyMode": True}])
    otlp = b.preview(record, "c")["body"]
    statuses = [s["status"] for s in otlp["resourceSpans"][0]["scopeSpans"][0]["spans"]]
    assert {"message": "Provider returned error", "code": 2} in statuses
    assert not any("overloaded" in json.dumps(s) or "All providers" in json.dumps(s) for s in statuses)
    (row,) = b.preview(record, "ch")["body"]
    assert row["ERROR_MESSAGE"] == "" and row["ERROR_TYPE"] == "upstream_error"
    assert "overloaded" not in row["PROVIDER_ATTEMPTS"] and '"status":503' in row["PROVIDER_ATTEMPTS"]


def test_privacy_mode_through_a_configuration_file(tmp_path):
    path = tmp_path / "spancast.toml"
    path.write_text('[[destinations]]\ntype = "otel-collector"\nendpoint = "http://127.0.0.1:9/v1/traces"\n'
                    'encoding = "json"\nprivacy_mode = true\nprivacy_keep_error_messages = true\n')
    b = Broadcaster.from_config(path)
    assert b.destinations[0].route.keep_error_messages is True
    body = json.dumps(b.preview(full_record(status="error", error_message="quota: 42"), "otel-collector")["body"])
    assert "quota: 42" in body and "OTLP is the OpenTelemetry Protocol" not in body


def test_provider_attempts_without_errors_are_left_as_they_are():
    attempts = [ProviderAttempt(provider="A", status=200)]
    record = full_record(provider_attempts=attempts)
    assert privacy_reduce(record).provider_attempts is attempts
