"""Test connection and preview: what OpenRouter's Test Connection sends, the verdicts and hints, and previews."""

from __future__ import annotations

import json

import pytest

from conftest import full_record
from sinkthread import SinkThread
from spancast import Broadcaster
from spancast.connection import TEST_NAME, TEST_TRACE_ID, mask_headers
from spancast.testing.sink import Expect, OtlpSink, Reply


def test_otlp_destinations_get_one_connection_test_span():
    with SinkThread(OtlpSink()) as sink:
        b = Broadcaster([{"type": "otel-collector", "endpoint": sink.url, "name": "c"}])
        result = b.test_connection("c")
    assert result.ok and result.status == 200 and result.latency_s > 0 and result.hint == ""
    (received,) = sink.received
    (span,) = received.spans
    assert span["name"] == TEST_NAME and span["trace_id"] == TEST_TRACE_ID
    assert "ok" in repr(result) and "c" in repr(result)


def test_webhooks_get_an_empty_body_marked_as_a_test_and_400_passes():
    expect = Expect(path="/hook", content_types=frozenset({"application/json"}), headers={"X-Test-Connection": "true"})
    with SinkThread(OtlpSink(expect, default=Reply.error(400, body=b"empty body"))) as sink:
        b = Broadcaster([{"type": "webhook", "url": sink.base_url + "/hook", "name": "w"}])
        result = b.test_connection("w")
    assert result.ok and result.status == 400 and result.excerpt == "empty body"
    assert sink.problems == []  # it carried X-Test-Connection: true and a JSON body


def test_a_400_fails_an_otlp_destination():
    with SinkThread(OtlpSink(default=Reply.error(400, body=b"bad"))) as sink:
        result = Broadcaster([{"type": "otel-collector", "endpoint": sink.url}]).test_connection("otel-collector")
    assert not result.ok and result.status == 400


def test_network_failures_are_named():
    dns = Broadcaster([{"type": "otel-collector", "endpoint": "http://no-such-host.invalid/v1/traces"}])
    result = dns.test_connection("otel-collector", timeout_s=5)
    assert not result.ok and result.error.startswith("DNS") and "resolve" in result.hint
    with SinkThread(OtlpSink()) as sink:  # https to a plain-HTTP port: the handshake fails
        tls = Broadcaster([{"type": "otel-collector", "endpoint": sink.url.replace("http://", "https://")}])
        result = tls.test_connection("otel-collector", timeout_s=5)
    assert not result.ok and result.status is None and result.error.startswith("TLS"), result
    refused = Broadcaster([{"type": "otel-collector", "endpoint": "http://127.0.0.1:9/v1/traces"}])
    result = refused.test_connection("otel-collector", timeout_s=5)
    assert not result.ok and result.error.startswith("connection refused") and "listens" in result.hint


def test_a_stalled_receiver_times_out_with_a_hint():
    with SinkThread(OtlpSink(default=Reply.stall())) as sink:
        result = Broadcaster([{"type": "otel-collector", "endpoint": sink.url}]).test_connection("otel-collector", 0.3)
    assert not result.ok and result.error.startswith("timeout") and "no answer" in result.hint


def test_preview_applies_privacy_mode_and_routing_and_masks_secrets():
    rec = full_record(3, prompt="PROMPT TEXT", completion="COMPLETION TEXT")
    b = Broadcaster([
        {"type": "webhook", "url": "https://hooks.example/x", "name": "private", "privacyMode": True,
         "headers": {"Authorization": "Bearer s3cr3t-value", "X-Team": "llm"}},
        {"type": "otel-collector", "endpoint": "https://c.example/v1/traces", "name": "only-claude",
         "filterRules": {"groups": [{"rules": [{"field": "model", "operator": "contains", "value": "claude"}]}]}},
    ])
    shown = b.preview(rec, "private")
    text = json.dumps(shown)
    assert shown["sent"] and shown["method"] == "POST" and shown["url"] == "https://hooks.example/x"
    # a webhook's static headers are its only authentication: every one of them is masked
    assert shown["headers"]["Authorization"] == "Bearer ***" and shown["headers"]["X-Team"] == "***"
    assert "s3cr3t" not in text and "PROMPT TEXT" not in text and "COMPLETION TEXT" not in text
    assert rec.id in text  # the rest of the record is there
    assert b.preview(rec, "only-claude") == {"destination": "only-claude", "sent": False, "reason": "filtered out"}


def test_mask_headers_keeps_the_scheme_and_names():
    masked = mask_headers({"Authorization": "Basic abc", "x-api-key": "k", "Content-Type": "application/json",
                           "Langsmith-Project": "main"}, frozenset())
    assert masked == {"Authorization": "Basic ***", "x-api-key": "***", "Content-Type": "application/json",
                      "Langsmith-Project": "main"}


def test_preview_says_when_the_destination_refuses_the_record():
    b = Broadcaster([{"type": "datadog", "apiKey": "dd-key-1", "mlApp": "chat", "maxAgeS": 3600}])
    shown = b.preview(full_record(1), "datadog")  # full_record's start time is in 2024: far older than an hour
    assert shown["sent"] is False and shown["reason"].startswith("refused:") and "dd-key-1" not in json.dumps(shown)


def test_credentials_in_user_headers_and_urls_never_show():
    from spancast import ConfigError
    from spancast.destinations import make_destination

    b = Broadcaster([{"type": "otel-collector", "endpoint": "https://api.example/v1/traces?token=tok-456&x=1",
                      "headers": {"x-honeycomb-team": "hc-789"}}])
    shown = b.preview(full_record(1), "otel-collector")
    text = json.dumps(shown)
    assert shown["headers"]["x-honeycomb-team"] == "***" and shown["url"].endswith("/v1/traces?token=***&x=1")
    assert not any(secret in text for secret in ("tok-456", "hc-789"))
    request = b.destinations[0].request(b"{}")
    assert repr(request).startswith("<Request POST https://api.example/... headers=") and "tok-456" not in repr(request)
    with pytest.raises(ConfigError) as info:
        make_destination({"type": "webhook", "url": "ftp://hooks.example/catch/secret-path-42"})
    assert "secret-path-42" not in str(info.value) and info.value.path == "destination.url"
    with pytest.raises(ConfigError) as info:  # credentials in a URL: refused, and not repeated
        make_destination({"type": "otel-collector", "endpoint": "https://user:pw-123@api.example/v1/traces"})
    assert "pw-123" not in str(info.value) and "credentials" in info.value.reason


def test_event_destinations_refuse_what_is_not_a_record():
    # A look-alike object never went through routing (privacy mode included): it must not be sent.
    from types import SimpleNamespace

    from spancast import EncodeError
    from spancast.destinations import make_destination

    fake = SimpleNamespace(**{f: getattr(full_record(1), f) for f in full_record(1).__struct_fields__})
    for config in ({"type": "posthog", "apiKey": "phc_1"}, {"type": "raindrop", "writeKey": "w"},
                   {"type": "datadog", "apiKey": "k", "mlApp": "a", "maxAgeS": None}):
        encoder = make_destination(config).new_encoder()
        with pytest.raises(EncodeError, match="expected a Generation"):
            encoder.append(fake)
        assert encoder.records == 0


def test_the_openrouter_flavour_tests_with_openrouters_own_span_name():
    # Ramp's receiver drops OpenRouter's test span by this name (the openrouter flavour is Ramp's)
    with SinkThread(OtlpSink(Expect(content_types=frozenset({"application/json"})))) as sink:
        b = Broadcaster([{"type": "otel-collector", "endpoint": sink.url, "name": "c", "flavor": "openrouter"}])
        assert b.test_connection("c").ok
    (received,) = sink.received
    (span,) = received.spans
    assert span["name"] == "openrouter-connection-test" and span["trace_id"] == TEST_TRACE_ID
