"""Ramp, Arize, Braintrust, Opik, Weave presets and the webhook signature: URLs, headers, bodies, errors, secrets."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import json

import aiohttp
import pytest
import zstandard
from aiohttp import web

from conftest import full_record, load_contract
from otlp import any_value, attrs, parse, spans
from sinkthread import SinkThread
from spancast import Broadcaster, ConfigError
from spancast.destinations.arize import ArizeDestination
from spancast.destinations.braintrust import BraintrustDestination
from spancast.destinations.opik import OpikDestination
from spancast.destinations.ramp import RampDestination
from spancast.destinations.weave import WeaveDestination
from spancast.destinations.webhook import WebhookDestination

PB, JS = "application/x-protobuf", "application/json"
KEY = "key-S3CRET-9f8e7d"  # every credential below contains S3CRET, so one search finds any leak
SPACE = "space-S3CRET-1a2b"
SIGNING = "sign-S3CRET-5c6d"

RAMP = {"type": "ramp", "apiKey": KEY}
ARIZE = {"type": "arize", "apiKey": KEY, "spaceKey": SPACE, "modelId": "checkout"}
BRAINTRUST = {"type": "braintrust", "apiKey": KEY, "projectId": "p-123"}
OPIK = {"type": "opik", "route": "otlp", "apiKey": KEY, "workspace": "acme", "projectName": "checkout"}
WEAVE = {"type": "weave", "route": "otlp", "apiKey": KEY, "entity": "acme", "project": "checkout"}
WEBHOOK = {"type": "webhook", "url": "https://hooks.example/otel", "signingSecret": SIGNING,
           "headers": {"X-Webhook-Token": "tok-S3CRET-77"}}

CLASSES = {
    "ramp": RampDestination, "arize": ArizeDestination, "braintrust": BraintrustDestination,
    "opik": OpikDestination, "weave": WeaveDestination, "webhook": WebhookDestination,
}


def build(mapping, where="d"):
    return CLASSES[mapping["type"]](mapping, where)


# ------------------------------------------------------------------ URLs and headers

@pytest.mark.parametrize(
    "mapping, url, headers",
    [
        (RAMP, "https://api.ramp.com/developer/v1/ai-usage/openrouter",
         {"Authorization": f"Bearer {KEY}", "Content-Type": JS}),
        ({**RAMP, "baseUrl": "http://127.0.0.1:8080/ramp/usage"}, "http://127.0.0.1:8080/ramp/usage",
         {"Authorization": f"Bearer {KEY}", "Content-Type": JS}),
        (ARIZE, "https://otlp.arize.com/v1/traces",
         {"authorization": KEY, "arize-space-id": SPACE, "Content-Type": PB}),
        ({**ARIZE, "baseUrl": "https://otlp.eu-west-1a.arize.com//", "encoding": "json"},
         "https://otlp.eu-west-1a.arize.com/v1/traces",
         {"authorization": KEY, "arize-space-id": SPACE, "Content-Type": JS}),
        (BRAINTRUST, "https://api.braintrust.dev/otel/v1/traces",
         {"Authorization": f"Bearer {KEY}", "x-bt-parent": "project_id:p-123", "Content-Type": PB}),
        ({**BRAINTRUST, "baseUrl": "https://api-eu.braintrust.dev/"}, "https://api-eu.braintrust.dev/otel/v1/traces",
         {"Authorization": f"Bearer {KEY}", "x-bt-parent": "project_id:p-123", "Content-Type": PB}),
        (OPIK, "https://www.comet.com/opik/api/v1/private/otel/v1/traces",
         {"Authorization": KEY, "Comet-Workspace": "acme", "projectName": "checkout", "Content-Type": PB}),
        ({**OPIK, "baseUrl": "http://127.0.0.1:5173/api/", "encoding": "json"},
         "http://127.0.0.1:5173/api/v1/private/otel/v1/traces",
         {"Authorization": KEY, "Comet-Workspace": "acme", "projectName": "checkout", "Content-Type": JS}),
        (WEAVE, "https://trace.wandb.ai/otel/v1/traces",
         {"wandb-api-key": KEY, "project_id": "acme/checkout", "Content-Type": PB}),
        ({**WEAVE, "baseUrl": "https://acme.wandb.io/traces/"}, "https://acme.wandb.io/traces/otel/v1/traces",
         {"wandb-api-key": KEY, "project_id": "acme/checkout", "Content-Type": PB}),
    ],
)
def test_good_settings_give_the_exact_url_and_headers(mapping, url, headers):
    d = build({**mapping, "headers": {"X-Team": "ml"}})
    req = d.request(b"body")
    assert (req.method, req.url, req.body) == ("POST", url, b"body")
    assert dict(req.headers) == {"X-Team": "ml", **headers}
    assert {str(v) for v in req.headers.values()} == {"ml", *headers.values()}  # the real values go on the wire


def test_auth_headers_win_over_the_users_in_any_case():
    d = build({**BRAINTRUST, "headers": {"authorization": "Bearer other", "CONTENT-TYPE": "text/plain", "X-A": "1"}})
    assert dict(d.request(b"").headers) == {
        "X-A": "1", "Authorization": f"Bearer {KEY}", "x-bt-parent": "project_id:p-123", "Content-Type": PB}


def test_encodings_default_to_what_each_receiver_takes_best():
    assert [build(m).encoding for m in (RAMP, ARIZE, BRAINTRUST, OPIK, WEAVE, WEBHOOK)] == [
        "json", "protobuf", "protobuf", "protobuf", "protobuf", "json"]
    for m in (RAMP, ARIZE, BRAINTRUST, OPIK, WEAVE, WEBHOOK):
        d = build(m)
        assert d.new_encoder().format == d.encoding
        assert d.new_encoder(format="json").format == "json"  # previews show protobuf as its JSON twin


# ------------------------------------------------------------------ bad settings name the key

def _without(mapping, key):
    return {k: v for k, v in mapping.items() if k != key}


@pytest.mark.parametrize(
    "mapping, paths, reason",
    [
        (_without(RAMP, "apiKey"), ("d.apiKey",), "missing required field"),
        ({**RAMP, "apiKey": ""}, ("d.apiKey",), "must not be empty"),
        ({**RAMP, "apiKey": 42}, ("d.apiKey",), "expected"),
        ({**RAMP, "baseUrl": "api.ramp.com/x"}, ("d.baseUrl",), "http(s) URL"),
        ({**RAMP, "encoding": "protobuf"}, ("d.encoding",), "invalid enum value"),
        ({**RAMP, "endpoint": "https://x"}, ("d.endpoint",), "unknown key"),
        (_without(ARIZE, "spaceKey"), ("d.spaceKey",), "missing required field"),
        (_without(ARIZE, "modelId"), ("d.modelId",), "missing required field"),
        ({**ARIZE, "modelId": "  "}, ("d.modelId",), "must not be empty"),
        ({**ARIZE, "spaceKey": "s\r\nX-Evil: 1"}, ("d.spaceKey",), "control characters"),
        ({**ARIZE, "encoding": "xml"}, ("d.encoding",), "invalid enum value"),
        (_without(BRAINTRUST, "projectId"), ("d.projectId",), "missing required field"),
        ({**BRAINTRUST, "baseUrl": "ftp://api.braintrust.dev"}, ("d.baseUrl",), "http(s) URL"),
        (_without(OPIK, "workspace"), ("d.workspace",), "missing required field"),
        (_without(OPIK, "projectName"), ("d.projectName",), "missing required field"),
        ({**OPIK, "workspace": ""}, ("d.workspace",), "must not be empty"),
        ({**WEAVE, "encoding": "json"}, ("d.encoding",), "protobuf only"),
        (_without(WEAVE, "entity"), ("d.entity",), "missing required field"),
        ({**WEAVE, "entity": "acme/x"}, ("d.entity",), "must not contain '/'"),
        ({**WEBHOOK, "signingSecret": ""}, ("d.signingSecret",), "must not be empty"),
        ({**WEBHOOK, "signingSecret": 7}, ("d.signingSecret",), "expected"),
        ({**WEBHOOK, "url": "hooks.example"}, ("d.url",), "http(s) URL"),
    ],
)
def test_bad_settings_name_the_key(mapping, paths, reason):
    with pytest.raises(ConfigError) as info:
        build(mapping)
    assert info.value.path in paths and reason in info.value.reason, info.value
    for text in (str(info.value), repr(info.value)):
        assert "S3CRET" not in text


def test_a_destination_refuses_another_types_settings():
    with pytest.raises(ConfigError) as info:
        RampDestination({**RAMP, "type": "arize"}, "d")
    assert info.value.path == "d.type"


# ------------------------------------------------------------------ secrets never show

@pytest.mark.parametrize("mapping", [RAMP, ARIZE, BRAINTRUST, OPIK, WEAVE, WEBHOOK], ids=lambda m: m["type"])
def test_secrets_never_show(mapping):
    d = build({**mapping, "headers": {**mapping.get("headers", {}), "X-Extra-Token": "hdr-S3CRET-00"}})
    req = d.request(b"{}")
    shown = [repr(d), str(d), repr(d.settings), str(d.settings), repr(req), str(req),
             repr(list(d.settings.__rich_repr__()))]
    text = "\n".join(shown)
    assert "S3CRET" not in text, text
    # the auth headers the destination builds are Secret too: a repr of the header mapping hides them
    assert not {KEY, SPACE, SIGNING} & {part.strip("'") for part in repr(dict(req.headers)).split()}
    assert KEY not in repr(dict(req.headers))
    assert "X-Extra-Token" in repr(d.settings)  # header names stay visible, only values hide
    for name in ("api_key", "space_key", "signing_secret"):
        if hasattr(d.settings, name):
            assert repr(getattr(d.settings, name)) == "'***'" and "S3CRET" in str(getattr(d.settings, name))


def test_auth_header_names_are_declared_secret():
    expected = {
        "ramp": {"authorization"}, "arize": {"authorization", "arize-space-id"}, "braintrust": {"authorization"},
        "opik": {"authorization"}, "weave": {"wandb-api-key"}, "webhook": {"x-webhook-token"},
    }
    for m in (RAMP, ARIZE, BRAINTRUST, OPIK, WEAVE, WEBHOOK):
        d = build(m)
        assert expected[m["type"]] <= d.secret_headers
        auth = {k.lower() for k, v in d.request(b"").headers.items() if "S3CRET" in str(v)}
        assert auth <= d.secret_headers  # every header that carries a credential is declared


# ------------------------------------------------------------------ bodies

def _encode(d, records, fmt=None):
    enc = d.new_encoder(format=fmt)
    enc.extend(records)
    return enc.finish()


def _resource(msg):
    (rs,) = msg.resource_spans
    return {kv.key: any_value(kv.value) for kv in rs.resource.attributes}


def test_arize_sends_openinference_and_the_project_in_the_resource():
    d = build({**ARIZE, "resource": {"deployment.environment": "prod", "openinference.project.name": "ignored"}})
    msg = parse(_encode(d, [full_record(0)]), "protobuf")
    assert _resource(msg) == {
        "service.name": ("string", "spancast"),
        "deployment.environment": ("string", "prod"),
        "openinference.project.name": ("string", "checkout"),  # the required setting wins
    }
    llm = [attrs(s) for s in spans(msg) if attrs(s).get("openinference.span.kind") == ("string", "LLM")]
    assert len(llm) == 1
    a = llm[0]
    assert a["llm.model_name"] == ("string", "gpt-4o-2024-08-06")
    assert a["llm.token_count.prompt"] == ("int", 1200) and a["llm.token_count.completion"] == ("int", 300)
    assert a["llm.token_count.prompt_details.cache_read"] == ("int", 1024)
    assert a["llm.cost.total"] == ("double", 0.0075)
    root = attrs(spans(msg)[0])  # the trace's root (trace_name) carries the session and the user
    assert root["session.id"] == ("string", "sess-7") and root["user.id"] == ("string", "user-42")
    assert "llm.input_messages.0.message.role" in a and "input.value" in a
    assert not any(k.startswith("gen_ai.") for k in a)
    # the JSON encoding carries the same
    assert _resource(parse(_encode(build({**ARIZE, "encoding": "json"}), [full_record(0)]), "json"))[
        "openinference.project.name"] == ("string", "checkout")


def test_ramp_json_carries_every_usage_field_ramp_reads():
    d = build(RAMP)
    body = _encode(d, [full_record(0, reasoning_tokens=64)])
    doc = json.loads(body)  # plain OTLP JSON: resourceSpans -> scopeSpans -> spans
    assert doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    msg = parse(body, "json")
    a = {}
    for s in spans(msg):
        a.update(attrs(s))
    assert a["gen_ai.request.model"] == ("string", "openai/gpt-4o")
    assert a["gen_ai.usage.input_tokens"] == ("int", 1200) and a["gen_ai.usage.output_tokens"] == ("int", 300)
    assert a["gen_ai.usage.input_tokens.cached"] == ("int", 1024)
    assert a["gen_ai.usage.output_tokens.reasoning"] == ("int", 64)
    assert a["gen_ai.usage.total_cost"] == ("double", 0.0075)
    assert a["user.id"] == ("string", "user-42")


def test_weave_is_protobuf_only_with_entity_and_project_in_the_resource():
    d = build({**WEAVE, "resource": {"wandb.project": "other", "team": "ml"}})
    assert d.encoding == "protobuf" and d.request(b"").headers["Content-Type"] == PB
    res = _resource(parse(_encode(d, [full_record(0)]), "protobuf"))
    assert res["wandb.entity"] == ("string", "acme") and res["wandb.project"] == ("string", "checkout")
    assert res["team"] == ("string", "ml")
    with pytest.raises(ConfigError) as info:
        build({**WEAVE, "encoding": "json"})
    assert info.value.path == "d.encoding"


@pytest.mark.parametrize("mapping", [BRAINTRUST, OPIK], ids=lambda m: m["type"])
def test_gen_ai_presets_send_gen_ai_attributes(mapping):
    msg = parse(_encode(build(mapping), [full_record(0)]), "protobuf")
    a = {}
    for s in spans(msg):
        a.update(attrs(s))
    assert a["gen_ai.usage.input_tokens"] == ("int", 1200) and "openinference.span.kind" not in a


# ------------------------------------------------------------------ webhook signature

def _verify(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def test_webhook_signature_verifies_over_the_body_and_changes_with_it():
    d = build(WEBHOOK)
    body = _encode(d, [full_record(0)])
    req = d.request(body)
    sig = req.headers["X-Spancast-Signature"]
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert _verify(SIGNING, req.body, sig) and req.body == body
    other = d.request(_encode(d, [full_record(1)])).headers["X-Spancast-Signature"]
    assert other != sig and not _verify(SIGNING, req.body, other)
    assert not _verify("another secret", req.body, sig)
    assert not _verify(SIGNING, req.body + b" ", sig)
    # unchanged otherwise: OTLP JSON, the method, the static headers
    assert (req.method, req.url, req.headers["Content-Type"], req.headers["X-Webhook-Token"]) == (
        "POST", "https://hooks.example/otel", JS, "tok-S3CRET-77")
    assert d.request(body).headers["X-Spancast-Signature"] == sig  # deterministic


def test_webhook_without_a_secret_sends_no_signature_and_keeps_put():
    d = build({"type": "webhook", "url": "https://hooks.example/otel", "method": "PUT"})
    req = d.request(b"{}")
    assert req.method == "PUT" and "X-Spancast-Signature" not in req.headers and d.settings.signing_secret is None
    assert dict(req.headers) == {"Content-Type": JS}


def test_webhook_signature_is_over_the_bytes_sent():
    d = build({**WEBHOOK, "compression": "gzip"})
    body = b'{"resourceSpans":[]}'
    (payload,) = d.payloads(body)
    req = d.wire_request(payload)
    assert req.body != body and gzip.decompress(req.body) == body and req.headers["Content-Encoding"] == "gzip"
    assert _verify(SIGNING, req.body, req.headers["X-Spancast-Signature"])
    assert not _verify(SIGNING, body, req.headers["X-Spancast-Signature"])


class SignedHook:
    """A webhook receiver that does what the webhook docstring tells receivers to: verify the signature over
    the raw body it read, then decompress it as Content-Encoding says; 401 when the signature fails."""

    def __init__(self) -> None:
        self.got: list[tuple[bool, str | None, bytes, str | None]] = []  # (verified, encoding, body, test header)
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        verified = _verify(SIGNING, raw, request.headers.get("X-Spancast-Signature", ""))
        encoding = request.headers.get("Content-Encoding")
        body = {"gzip": gzip.decompress, "zstd": lambda b: zstandard.ZstdDecompressor().decompress(b, max_output_size=1 << 26),
                None: bytes}[encoding](raw)
        self.got.append((verified, encoding, body, request.headers.get("X-Test-Connection")))
        return web.Response(status=200 if verified else 401)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, auto_decompress=False)  # the raw bytes, as the signature covers them
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        await self.runner.cleanup()


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_a_receiver_verifies_the_webhook_signature_over_the_wire_bytes(compression):
    records = [full_record(i) for i in range(5)]
    with SinkThread(SignedHook()) as hook:
        config = {"type": "webhook", "name": "w", "url": hook.base_url + "/hook", "signingSecret": SIGNING,
                  "compression": compression}
        b = Broadcaster([config], max_batch_records=5).start()
        try:
            for r in records:
                b.emit(r)
            assert b.flush(10)
            stats = b.stats()["destinations"]["w"]
            tested = b.test_connection("w")  # the probe is signed and compressed like any request
        finally:
            b.close()
    assert stats["delivered"] == 5 and stats["dropped"] == {} and tested.ok and tested.status == 200
    (delivered, encoding, body, _), (probe, _, probe_body, test_header) = hook.got
    assert delivered and probe and test_header == "true"
    assert encoding == (None if compression == "none" else compression)
    sent = {s["spanId"] for rs in json.loads(body)["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}
    assert len(sent) >= 5 and json.loads(probe_body) == {"resourceSpans": []}


def test_webhook_connection_test_is_an_empty_signed_body():
    d = build(WEBHOOK)
    req, also_ok = d.test_request()
    assert json.loads(req.body) == {"resourceSpans": []} and also_ok == frozenset({400})
    assert req.headers["X-Test-Connection"] == "true"
    assert _verify(SIGNING, req.body, req.headers["X-Spancast-Signature"])


# ------------------------------------------------------------------ against a real receiver, with the contract data



def _contract(kind):
    return load_contract(kind)


@pytest.mark.parametrize("kind", ["ramp", "arize", "braintrust", "opik", "weave", "webhook"])
def test_contract_data_builds_and_a_real_receiver_accepts_the_request(kind):
    from spancast.testing.sink import Expect, OtlpSink

    c = _contract(kind)
    recs = [full_record(i) for i in range(3)]

    async def main():
        async with OtlpSink(Expect(path=c.PATH, method=c.METHOD, content_types=frozenset({c.CONTENT_TYPE}),
                                   auth=c.check_auth)) as sink:
            d = build(c.config(sink.base_url))
            req = d.request(_encode(d, recs))
            async with aiohttp.ClientSession() as s:
                async with s.request(req.method, req.url, data=req.body, headers=dict(req.headers)) as r:
                    status = r.status
            return sink, d, status

    sink, d, status = asyncio.run(main())
    assert sink.problems == [] and status == 200
    if kind == "arize":  # OpenInference has no generation-id attribute: count the LLM spans instead
        llm = [sp for sp in sink.received[0].spans if sp["attributes"].get("openinference.span.kind") == "LLM"]
        assert len(llm) == len(recs)
    else:
        assert sink.generation_ids() == [r.id for r in recs]
    (got,) = sink.received
    assert got.content_type == c.CONTENT_TYPE and c.check_auth(got.headers) is None
    assert c.check_auth({}) is not None  # the fake would refuse a request without credentials
    shown = "\n".join([repr(d), repr(d.settings), repr(d.request(b""))])
    assert c.BODY == "otlp" and not any(secret in shown for secret in c.SECRETS)
    if kind == "webhook":
        assert _verify(c.SECRETS[1], got.body, got.headers["X-Spancast-Signature"])
