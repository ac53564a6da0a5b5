"""Vendor OTLP presets (grafana, langfuse, langsmith, newrelic, sentry, elastic): URLs, auth, secrets, flavours, value caps."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from conftest import IMPLS, attempts_record, full_record, load_contract
from otlp import attrs, parse, parse_pb, spans

from spancast import ConfigError, EncodeError, Generation
from spancast.codec import Attr, AttributePlan, Op, get_plan, implementation
from spancast.codec.values import json_text
from spancast.destinations import REGISTRY, make_destination
from spancast.destinations.base import Destination, Secret
from spancast.testing.sink import JSON, PROTOBUF, Expect, OtlpSink

PRESETS = ("grafana", "langfuse", "langsmith", "newrelic", "sentry", "elastic")

GRAFANA = {"type": "grafana", "instanceId": 123456, "apiKey": "glc_s3cret-grafana-token"}
LANGFUSE = {"type": "langfuse", "publicKey": "pk-lf-public-1", "secretKey": "sk-lf-s3cret-2"}
LANGSMITH = {"type": "langsmith", "apiKey": "lsv2_pt_s3cret_3"}
NEWRELIC = {"type": "newrelic", "licenseKey": "NRAK-s3cret-license-4"}
DSN = "https://0123456789abcdef0123456789abcdef@o123.ingest.us.sentry.io/456"
SENTRY = {"type": "sentry", "otlpEndpoint": "https://o123.ingest.us.sentry.io/api/456/integration/otlp/v1/traces", "dsn": DSN}
ELASTIC = {"type": "elastic", "endpoint": "https://abc.ingest.us-east-1.aws.elastic.cloud:443", "apiKey": "ELASTIC-s3cret-key-5"}
ALL = {"grafana": GRAFANA, "langfuse": LANGFUSE, "langsmith": LANGSMITH, "newrelic": NEWRELIC, "sentry": SENTRY, "elastic": ELASTIC}
SECRET_VALUES = {
    "grafana": ["glc_s3cret-grafana-token", "MTIzNDU2OmdsY19zM2NyZXQtZ3JhZmFuYS10b2tlbg=="],
    "langfuse": ["pk-lf-public-1", "sk-lf-s3cret-2", "cGstbGYtcHVibGljLTE6c2stbGYtczNjcmV0LTI="],
    "langsmith": ["lsv2_pt_s3cret_3"],
    "newrelic": ["NRAK-s3cret-license-4"],
    "sentry": [DSN, "0123456789abcdef0123456789abcdef"],
    "elastic": ["ELASTIC-s3cret-key-5"],
}


def test_registered():
    assert set(PRESETS) <= set(REGISTRY)
    for kind in PRESETS:
        assert REGISTRY[kind].type == kind


# ------------------------------------------------------------------ URLs and headers


@pytest.mark.parametrize(
    "mapping, url, headers",
    [
        (
            GRAFANA,
            "https://otlp-gateway-prod-us-west-0.grafana.net/otlp/v1/traces",
            {"Authorization": "Basic MTIzNDU2OmdsY19zM2NyZXQtZ3JhZmFuYS10b2tlbg=="},
        ),
        (  # the OTLP endpoint as Grafana's tile shows it (with /otlp), trailing slash, instance id as a string
            {**GRAFANA, "instanceId": "123456", "baseUrl": "https://otlp-gateway-prod-eu-west-2.grafana.net/otlp/"},
            "https://otlp-gateway-prod-eu-west-2.grafana.net/otlp/v1/traces",
            {"Authorization": "Basic MTIzNDU2OmdsY19zM2NyZXQtZ3JhZmFuYS10b2tlbg=="},
        ),
        (
            {**GRAFANA, "baseUrl": "http://127.0.0.1:4318//"},
            "http://127.0.0.1:4318/otlp/v1/traces",
            {"Authorization": "Basic MTIzNDU2OmdsY19zM2NyZXQtZ3JhZmFuYS10b2tlbg=="},
        ),
        (  # ingestion version 4 by default, as Langfuse's SDK sends
            LANGFUSE,
            "https://us.cloud.langfuse.com/api/public/otel/v1/traces",
            {"Authorization": "Basic cGstbGYtcHVibGljLTE6c2stbGYtczNjcmV0LTI=", "x-langfuse-ingestion-version": "4"},
        ),
        (
            {**LANGFUSE, "baseUrl": "https://cloud.langfuse.com/", "ingestionVersion": 4},
            "https://cloud.langfuse.com/api/public/otel/v1/traces",
            {"Authorization": "Basic cGstbGYtcHVibGljLTE6c2stbGYtczNjcmV0LTI=", "x-langfuse-ingestion-version": "4"},
        ),
        (  # the OTEL_EXPORTER_OTLP_ENDPOINT Langfuse documents; a Langfuse before v3.x that refuses the header
            {**LANGFUSE, "baseUrl": "http://localhost:3000/api/public/otel", "ingestionVersion": None},
            "http://localhost:3000/api/public/otel/v1/traces",
            {"Authorization": "Basic cGstbGYtcHVibGljLTE6c2stbGYtczNjcmV0LTI="},
        ),
        (
            LANGSMITH,
            "https://api.smith.langchain.com/otel/v1/traces",
            {"x-api-key": "lsv2_pt_s3cret_3", "Langsmith-Project": "main"},
        ),
        (
            {**LANGSMITH, "project": "prod-agents", "workspaceId": "ws-9", "endpoint": "https://ls.internal/api/v1/"},
            "https://ls.internal/api/v1/otel/v1/traces",
            {"x-api-key": "lsv2_pt_s3cret_3", "Langsmith-Project": "prod-agents", "X-Tenant-Id": "ws-9"},
        ),
        (NEWRELIC, "https://otlp.nr-data.net/v1/traces", {"api-key": "NRAK-s3cret-license-4"}),
        ({**NEWRELIC, "region": "eu"}, "https://otlp.eu01.nr-data.net/v1/traces", {"api-key": "NRAK-s3cret-license-4"}),
        (
            {**NEWRELIC, "region": "eu", "endpoint": "http://127.0.0.1:9999/"},
            "http://127.0.0.1:9999/v1/traces",
            {"api-key": "NRAK-s3cret-license-4"},
        ),
        (
            SENTRY,
            "https://o123.ingest.us.sentry.io/api/456/integration/otlp/v1/traces",
            {"x-sentry-auth": "sentry sentry_key=0123456789abcdef0123456789abcdef"},
        ),
        (  # a DSN with the legacy secret part and a path prefix (self-hosted)
            {**SENTRY, "dsn": "https://abc123:def456@sentry.example.com:9000/sentry/17/"},
            "https://o123.ingest.us.sentry.io/api/456/integration/otlp/v1/traces",
            {"x-sentry-auth": "sentry sentry_key=abc123"},
        ),
        (ELASTIC, "https://abc.ingest.us-east-1.aws.elastic.cloud:443/v1/traces", {"Authorization": "ApiKey ELASTIC-s3cret-key-5"}),
        (
            {**ELASTIC, "endpoint": "https://abc.ingest.us-east-1.aws.elastic.cloud/v1/traces"},
            "https://abc.ingest.us-east-1.aws.elastic.cloud/v1/traces",
            {"Authorization": "ApiKey ELASTIC-s3cret-key-5"},
        ),
    ],
)
def test_url_and_headers(mapping, url, headers):
    d = make_destination(mapping)
    req = d.request(b"body")
    assert (req.method, req.url, req.body) == ("POST", url, b"body")
    assert dict(req.headers) == {**headers, "Content-Type": PROTOBUF}
    assert d.encoding == "protobuf" and d.new_encoder().format == "protobuf"


@pytest.mark.parametrize("kind", PRESETS)
def test_encoding_json_and_user_headers(kind):
    d = make_destination({**ALL[kind], "encoding": "json", "headers": {"X-Team": "ml", "content-type": "text/plain"}})
    req = d.request(b"{}")
    assert req.headers["Content-Type"] == JSON and req.headers["X-Team"] == "ml"
    assert "content-type" not in req.headers  # the destination's own headers win, case-insensitively
    assert d.new_encoder().format == "json" and d.new_encoder(format="protobuf").format == "protobuf"


@pytest.mark.parametrize("kind, auth", [("grafana", "Authorization"), ("langfuse", "authorization"),
                                        ("langsmith", "X-API-KEY"), ("newrelic", "Api-Key"),
                                        ("sentry", "X-Sentry-Auth"), ("elastic", "AUTHORIZATION")])
def test_a_user_header_cannot_replace_the_auth_header(kind, auth):
    d = make_destination({**ALL[kind], "headers": {auth: "spoofed"}})
    headers = d.request(b"").headers
    assert "spoofed" not in headers.values()
    assert auth.lower() in {name.lower() for name in d.secret_headers}
    assert sum(name.lower() == auth.lower() for name in headers) == 1


# ------------------------------------------------------------------ bad settings


@pytest.mark.parametrize(
    "mapping, path, reason",
    [
        ({"type": "grafana", "apiKey": "k"}, "d.instanceId", "missing required field `instanceId`"),
        ({"type": "grafana", "instanceId": 1}, "d.apiKey", "missing required field `apiKey`"),
        ({**GRAFANA, "instanceId": "12ab"}, "d.instanceId", "numeric"),
        ({**GRAFANA, "instanceId": "-5"}, "d.instanceId", "numeric"),
        ({**GRAFANA, "instanceId": -5}, "d.instanceId", "numeric"),
        ({**GRAFANA, "instanceId": "١٢٣"}, "d.instanceId", "numeric"),  # Unicode digits are not an instance id
        ({**GRAFANA, "instanceId": 1.5}, "d.instanceId", "expected `int | str`"),
        ({**GRAFANA, "baseUrl": "otlp-gateway-prod-us-west-0.grafana.net"}, "d.baseUrl", "http(s) URL"),
        ({**GRAFANA, "apiKey": 42}, "d.apiKey", "expected a string, got int"),
        ({**GRAFANA, "apiKey": "  "}, "d.apiKey", "must not be empty"),
        ({"type": "langfuse", "publicKey": "p"}, "d.secretKey", "missing required field `secretKey`"),
        ({**LANGFUSE, "ingestionVersion": 5}, "d.ingestionVersion", "invalid enum value 5"),
        ({**LANGFUSE, "baseUrl": "ftp://x"}, "d.baseUrl", "http(s) URL"),
        ({**LANGFUSE, "secretKey": "sk\r\nX-Evil: 1"}, "d.secretKey", "control characters"),
        ({"type": "langsmith"}, "d.apiKey", "missing required field `apiKey`"),
        ({**LANGSMITH, "endpoint": "api.smith.langchain.com"}, "d.endpoint", "http(s) URL"),
        ({**LANGSMITH, "workspaceId": "a\nb"}, "d.workspaceId", "control characters"),
        ({"type": "newrelic"}, "d.licenseKey", "missing required field `licenseKey`"),
        ({**NEWRELIC, "region": "ap"}, "d.region", "invalid enum value 'ap'"),
        ({**NEWRELIC, "endpoint": "localhost:4318"}, "d.endpoint", "http(s) URL"),
        ({"type": "sentry", "dsn": DSN}, "d.otlpEndpoint", "missing required field `otlpEndpoint`"),
        ({**SENTRY, "otlpEndpoint": "o123.ingest.sentry.io"}, "d.otlpEndpoint", "http(s) URL"),
        ({**SENTRY, "dsn": "http://0123abc@o1.ingest.sentry.io/456"}, "d.dsn", "expected a Sentry DSN"),
        ({**SENTRY, "dsn": "https://o1.ingest.sentry.io/456"}, "d.dsn", "expected a Sentry DSN"),
        ({**SENTRY, "dsn": "https://0123abc@o1.ingest.sentry.io/"}, "d.dsn", "expected a Sentry DSN"),
        ({**SENTRY, "dsn": "https://0123abc@o1.ingest.sentry.io/project"}, "d.dsn", "expected a Sentry DSN"),
        ({**SENTRY, "dsn": "https://01-23@o1.ingest.sentry.io/456"}, "d.dsn", "expected a Sentry DSN"),
        ({"type": "elastic", "apiKey": "k"}, "d.endpoint", "missing required field `endpoint`"),
        ({**ELASTIC, "endpoint": "abc.elastic.cloud"}, "d.endpoint", "http(s) URL"),
        ({**ELASTIC, "encoding": "xml"}, "d.encoding", "invalid enum value"),
        ({**ELASTIC, "flavor": "openinference"}, "d.flavor", "unknown key; expected one of "),
    ],
)
def test_bad_settings_name_the_key(mapping, path, reason):
    # (a missing key is named as OpenRouter writes it, in camelCase: the user did not write it at all)
    with pytest.raises(ConfigError) as info:
        make_destination(mapping, "d")
    assert info.value.path == path, info.value
    assert reason in info.value.reason, info.value.reason


@pytest.mark.parametrize(
    "mapping, secret",
    [
        ({**GRAFANA, "apiKey": "glc_s3cret\rsplit"}, "glc_s3cret"),
        ({**LANGFUSE, "publicKey": "pk-lf-leak\n"}, "pk-lf-leak"),
        ({**LANGSMITH, "apiKey": "lsv2_leak\x7f"}, "lsv2_leak"),
        ({**NEWRELIC, "licenseKey": "NRAK-leak\n"}, "NRAK-leak"),
        ({**SENTRY, "dsn": "https://leakykey@o1.ingest.sentry.io/notanumber"}, "leakykey"),
        ({**SENTRY, "dsn": "leak-this-dsn"}, "leak-this-dsn"),
        ({**ELASTIC, "apiKey": "ELASTIC-leak\r\n"}, "ELASTIC-leak"),
    ],
)
def test_config_errors_never_repeat_a_secret(mapping, secret):
    with pytest.raises(ConfigError) as info:
        make_destination(mapping)
    for text in (str(info.value), repr(info.value), info.value.reason):
        assert secret not in text


# ------------------------------------------------------------------ secrets never shown


@pytest.mark.parametrize("kind", PRESETS)
def test_reprs_never_show_secrets(kind):
    d = make_destination({**ALL[kind], "headers": {"X-Extra-Token": "user-header-s3cret"}})
    req = d.request(b"xyz")
    shown = [repr(d), str(d), repr(d.settings), str(d.settings), repr(req), str(req), repr(d.new_encoder())]
    text = "\n".join(shown)
    for secret in SECRET_VALUES[kind] + ["user-header-s3cret"]:
        assert secret not in text, (secret, text)
    own = repr({k: v for k, v in req.headers.items() if k != "X-Extra-Token"})  # the preset's own values are Secret
    assert not any(secret in own for secret in SECRET_VALUES[kind]), own
    assert "'***'" in repr(d.settings)
    # ...while the request carries the real values.
    assert any(isinstance(v, Secret) for v in req.headers.values())
    assert {name.lower() for name in d.secret_headers} & {name.lower() for name in req.headers}


def test_secret_is_a_str_that_hides_itself():
    s = Secret("abc")
    assert s == "abc" and f"{s}" == "abc" and s + "d" == "abcd" and repr(s) == "'***'" and repr([s]) == "['***']"


# ------------------------------------------------------------------ the contract data (tests/contract/<type>.py)


def contract(kind: str):
    return load_contract(kind)


@pytest.mark.parametrize("kind", PRESETS)
def test_contract_files(kind):
    c = contract(kind)
    d = make_destination(c.config("http://127.0.0.1:4318", timeout_s=3))
    req = d.request(b"")
    assert d.type == kind and d.settings.timeout_s == 3
    assert req.url == "http://127.0.0.1:4318" + c.PATH and req.method == c.METHOD
    assert req.headers["Content-Type"] == c.CONTENT_TYPE and c.BODY == "otlp"
    assert c.check_auth(req.headers) is None
    assert c.check_auth({k: ("x" if k.lower() in d.secret_headers else v) for k, v in req.headers.items()})
    assert c.check_auth({"Content-Type": c.CONTENT_TYPE})
    assert c.SECRETS and all(c.SECRETS)
    text = "\n".join([repr(d), repr(d.settings), repr(req)])
    assert not any(secret in text for secret in c.SECRETS)


@pytest.mark.parametrize("kind", PRESETS)
@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_a_fake_backend_accepts_what_the_preset_sends(kind, encoding):
    """Each preset's request, sent over HTTP to a receiver that checks its path, auth, type and body."""
    c = contract(kind)
    recs = [full_record(i) for i in range(3)]

    async def main():
        expect = Expect(path=c.PATH, method=c.METHOD, auth=c.check_auth)
        async with OtlpSink(expect) as sink:
            d = make_destination(c.config(sink.base_url, encoding=encoding, compression="gzip"))
            enc = d.new_encoder()
            enc.extend(recs)
            req = d.request(enc.finish())
            headers = {**req.headers, "Content-Encoding": d.compressor.content_encoding}
            async with aiohttp.ClientSession() as s:
                async with s.request(req.method, req.url, data=d.compressor.compress(req.body), headers=headers) as r:
                    status = r.status
            return sink, status

    sink, status = asyncio.run(main())
    assert sink.problems == [] and status == 200
    assert sink.generation_ids() == [r.id for r in recs]


# ------------------------------------------------------------------ the langfuse and langsmith flavours


def _record():
    trace = {**full_record().trace, "span_name": "agent-step", "environment": "staging", "release": "v1.4.2"}
    return full_record(trace=trace)


def _spans(impl, fmt, flavor, rec, **options):
    enc = impl.TraceEncoder(format=fmt, flavor=flavor, **options)
    enc.append(rec)
    return spans(parse(enc.finish(), fmt))


def test_langfuse_flavour(impl, fmt):
    # langfuse/langfuse OtelIngestionProcessor.ts @ 62751446149b: the keys it reads first, with the JSON it wants
    root, mid, gen = _spans(impl, fmt, "langfuse", _record())
    r = attrs(root)
    assert r["langfuse.observation.type"] == ("string", "span")
    assert r["langfuse.trace.name"] == ("string", "checkout-flow")
    assert r["user.id"] == ("string", "user-42") and r["session.id"] == ("string", "sess-7")
    meta = {k[len("langfuse.trace.metadata."):]: v for k, v in r.items() if k.startswith("langfuse.trace.metadata.")}
    assert meta == {
        "customer_tier": ("string", "gold"),
        "retries": ("int", 2),
        "ratio": ("double", 0.25),
        "flag": ("bool", True),
        "nested": ("string", '{"a":[1,2,{"b":null}]}'),
    }
    assert attrs(mid) == {"langfuse.observation.type": ("string", "span")}
    a = attrs(gen)
    assert a["langfuse.observation.type"] == ("string", "generation")
    assert a["langfuse.observation.model.name"] == ("string", "gpt-4o-2024-08-06")
    # whole numbers, cached tokens out of the input (Langfuse adds them back up), so the usage is accepted
    assert json.loads(a["langfuse.observation.usage_details"][1]) == {
        "input": 1200 - 1024, "input_cached_tokens": 1024, "output": 300, "output_reasoning_tokens": 0, "total": 1500}
    assert json.loads(a["langfuse.observation.cost_details"][1]) == {"input": 0.003, "output": 0.0045, "total": 0.0075}
    assert a["langfuse.observation.completion_start_time"] == ("string", "2024-11-19T07:06:40.412500Z")
    assert a["langfuse.observation.level"] == ("string", "DEFAULT")
    assert json.loads(a["langfuse.observation.input"][1]) == _record().messages
    assert json.loads(a["langfuse.observation.output"][1]) == {"role": "assistant", "content": _record().completion}
    assert a["langfuse.environment"] == ("string", "staging") and a["langfuse.release"] == ("string", "v1.4.2")
    assert not [k for k in a if k.startswith("gen_ai.usage.")]  # Langfuse would sweep them into the usage


def test_langsmith_flavour(impl, fmt):
    root, mid, gen = _spans(impl, fmt, "langsmith", _record())
    assert attrs(root) == {"langsmith.span.kind": ("string", "chain"), "langsmith.metadata.session_id": ("string", "sess-7"),
                           "user.id": ("string", "user-42")}
    assert attrs(mid) == {"langsmith.span.kind": ("string", "chain")}
    a = attrs(gen)
    assert a["langsmith.span.kind"] == ("string", "llm")
    # the run's name is the span's (generation_name, else the model): no langsmith.trace.name on the llm run
    assert "langsmith.trace.name" not in a and "langsmith.trace.session_id" not in a
    assert a["langsmith.metadata.session_id"] == ("string", "sess-7")  # LangSmith's threads
    assert a["langsmith.metadata.user_id"] == ("string", "user-42")
    meta = {k[len("langsmith.metadata."):]: v for k, v in a.items() if k.startswith("langsmith.metadata.")}
    assert set(meta) == {"user_id", "session_id", "customer_tier", "retries", "ratio", "flag", "nested",
                         "environment", "release"}
    assert json.loads(a["gen_ai.prompt"][1]) == {"messages": _record().messages}
    outputs = json.loads(a["gen_ai.completion"][1])
    assert outputs["choices"] == [{
        "index": 0, "message": {"role": "assistant", "content": _record().completion}, "finish_reason": "stop"}]
    # LangSmith reads a run's cost only from its outputs' usage_metadata (no attribute carries one)
    rec = _record()
    assert outputs["usage_metadata"] == {
        "input_tokens": rec.prompt_tokens, "output_tokens": rec.completion_tokens, "total_tokens": rec.total_tokens,
        "input_token_details": {"cache_read": 1024}, "output_token_details": {"reasoning": 0},
        "input_cost": rec.input_cost, "output_cost": rec.output_cost, "total_cost": rec.total_cost}
    assert json.loads(a["gen_ai.usage.input_token_details"][1]) == {"cache_read": 1024}
    assert a["gen_ai.usage.details.reasoning_tokens"] == ("int", 0)


def test_langsmith_gets_an_exception_event_on_errors(impl, fmt):
    rec = full_record(trace=None, status="error", error_type="rate_limit", error_message="slow down")
    (gen,) = _spans(impl, fmt, "langsmith", rec)
    (event,) = gen.events
    assert event.name == "exception" and attrs(event) == {
        "exception.type": ("string", "rate_limit"), "exception.message": ("string", "slow down")}


@pytest.mark.parametrize("flavor", ["langfuse", "langsmith"])
def test_flavours_leave_out_what_is_absent(impl, flavor):
    rec = Generation(id="g", start_time_ns=1, end_time_ns=2, model="m")
    (gen,) = _spans(impl, "protobuf", flavor, rec)
    keys = {k for k in attrs(gen) if k.startswith(flavor + ".")}
    if flavor == "langfuse":
        assert keys == {"langfuse.observation.type", "langfuse.observation.model.name", "langfuse.observation.level"}
    else:
        assert keys == {"langsmith.span.kind"}
    rec = Generation(id="g", start_time_ns=1, end_time_ns=2, model="m", trace={"environment": None, "trace_name": 7})
    root = attrs(_spans(impl, "json", flavor, rec)[0])
    if flavor == "langfuse":
        assert root["langfuse.trace.name"] == ("int", 7)  # typed as the metadata of trace keys are
    assert "langfuse.environment" not in root and "deployment.environment" not in root


def test_entry_op_is_plan_data_both_encoders_follow(impl):
    plan = AttributePlan("entry", (Attr(Op.ENTRY, "env", "trace", "environment"),
                                   Attr(Op.ENTRY, "missing", "trace", "nope")), ())
    rec = Generation(id="g", start_time_ns=1, end_time_ns=2, model="m", trace={"environment": {"k": [1]}})
    assert attrs(_spans(impl, "json", plan, rec)[0]) == {"env": ("string", '{"k":[1]}')}
    with pytest.raises(ValueError, match="needs the entry's key"):
        get_plan(AttributePlan("bad", (Attr(Op.ENTRY, "env", "trace", None),), ()))
    bad = Generation(id="g", start_time_ns=1, end_time_ns=2, model="m", trace={"environment": {1, 2}})
    with pytest.raises(EncodeError) as info:
        impl.encode_traces([bad], flavor=plan)
    assert (info.value.field, info.value.reason) == ("trace.environment", "unsupported type set")


# ------------------------------------------------------------------ max_value_chars (New Relic's 4095)


def _strings(span) -> list[str]:
    out = []
    for kv in span.attributes:
        v = kv.value
        if v.HasField("string_value"):
            out.append(v.string_value)
        elif v.HasField("array_value"):
            out += [x.string_value for x in v.array_value.values if x.HasField("string_value")]
    return out


def _long_record():
    long = "é🚀x\"\\\n" * 3000  # multi-byte, escaped characters: 18,000 code points
    return full_record(
        prompt=long,
        completion=long + "end",
        messages=[{"role": "user", "content": long}],
        finish_reason="s" * 256,
        user="u" * 256,
        trace={"trace_id": "t" * 100, "span_name": "n" * 50, "trace_name": "é" * 300, "blob": {"x": long}, "environment": long},
    )


@pytest.mark.parametrize("flavor", ["gen_ai", "openinference", "langfuse", "langsmith"])
@pytest.mark.parametrize("cap", [0, 7, 255, 4095])
def test_max_value_chars_cuts_every_string_value_alike(fmt, flavor, cap):
    rec = _long_record()
    recs = [rec, attempts_record()]
    resource = {"service.version": "v" * 5000, "team": 3}
    outs = []
    for name in IMPLS:
        enc = implementation(name).TraceEncoder(format=fmt, flavor=flavor, resource=resource, max_value_chars=cap)
        enc.extend(recs)
        size = enc.size
        outs.append(enc.finish())
        assert size == len(outs[-1])
    assert all(out == outs[0] for out in outs)  # the twins write the same bytes
    msg = parse(outs[0], fmt)
    assert all(len(kv.value.string_value) <= cap for kv in msg.resource_spans[0].resource.attributes)
    uncut = spans(parse(implementation(IMPLS[-1]).encode_traces(recs, format=fmt, flavor=flavor, resource=resource), fmt))
    for cut_span, full_span in zip(spans(msg), uncut, strict=True):
        assert cut_span.name == full_span.name  # span names and ids are not attribute values
        assert [kv.key for kv in cut_span.attributes] == [kv.key for kv in full_span.attributes]
        for cut_text, full_text in zip(_strings(cut_span), _strings(full_span), strict=True):
            assert cut_text == full_text[:cap]  # a prefix, cut on a code point boundary


def test_max_value_chars_on_the_json_texts(impl, fmt):
    rec = _long_record()
    enc = impl.TraceEncoder(format=fmt, max_value_chars=4095, flavor="openrouter")
    enc.append(rec)
    a = attrs(spans(parse(enc.finish(), fmt))[1])  # [0] is the span_name span
    prompt = json_text({"messages": rec.messages, "prompt": rec.prompt})
    completion = json_text({"completion": rec.completion})
    assert a["gen_ai.prompt"] == ("string", prompt[:4095])
    assert a["gen_ai.completion"] == ("string", completion[:4095])
    enc = impl.TraceEncoder(format=fmt, max_value_chars=4095)
    enc.append(rec)
    gen_ai = attrs(spans(parse(enc.finish(), fmt))[2])
    assert len(gen_ai["gen_ai.input.messages"][1]) == 4095
    assert a["trace.metadata.blob"] == ("string", json_text({"x": rec.trace["blob"]["x"]})[:4095])
    assert a["gen_ai.response.finish_reasons"] == ("array", [("string", "s" * 256)])  # under the cap: untouched
    assert impl.TraceEncoder(max_value_chars=4095).max_value_chars == 4095
    assert impl.TraceEncoder().max_value_chars == -1


@pytest.mark.parametrize("bad", [-1, True, 1.5, "10"])
def test_max_value_chars_is_checked(impl, bad):
    with pytest.raises(ValueError, match="max_value_chars"):
        impl.TraceEncoder(max_value_chars=bad)


def test_newrelic_caps_values_and_batches():
    d = make_destination(NEWRELIC)
    assert d.max_batch_bytes == 1_000_000 and Destination.max_batch_bytes is None
    assert make_destination(GRAFANA).max_batch_bytes is None
    enc = d.new_encoder()
    assert enc.max_value_chars == 4095
    enc.append(_long_record())
    gen = spans(parse_pb(enc.finish()))[2]  # after the trace's root and the span_name span
    assert max(len(t) for t in _strings(gen)) == 4095
    for kind in PRESETS:
        if kind != "newrelic":
            assert make_destination(ALL[kind]).new_encoder().max_value_chars == -1


def test_preview_of_a_preset_is_json():
    d = make_destination(LANGFUSE)
    enc = d.new_encoder(format="json")
    enc.append(_record())
    doc = json.loads(enc.finish())
    assert doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] == "checkout-flow"


def test_newrelic_payloads_stay_under_1_mb_and_long_values_are_cut_end_to_end():
    # New Relic refuses payloads over ~1 MB and cuts attribute values at 4095 characters: the lane
    # batches to the destination's max_batch_bytes, and the encoder cuts every string value.

    from conftest import full_record
    from sinkthread import SinkThread
    from spancast import Broadcaster
    from spancast.testing.sink import Expect, OtlpSink

    c = load_contract("newrelic")
    recs = [full_record(i, completion="x" * 20_000) for i in range(600)]  # ~7 KB each once cut: ~4 MB in all
    expect = Expect(path=c.PATH, content_types=frozenset({c.CONTENT_TYPE}), auth=c.check_auth)
    with SinkThread(OtlpSink(expect)) as sink:
        b = Broadcaster([c.config(sink.base_url)], max_batch_records=512).start()
        for r in recs:
            b.emit(r)
        assert b.flush(30)
        b.close()
    assert sorted(sink.generation_ids()) == sorted(r.id for r in recs) and sink.problems == []
    total = sum(r.wire_bytes for r in sink.received)
    assert total > 3_000_000 and len(sink.received) >= total / 1_000_000  # 512 records would be ~3.5 MB
    assert all(r.wire_bytes <= 1_000_000 for r in sink.received)
    values = [v for r in sink.received for s in r.spans for v in s["attributes"].values() if isinstance(v, str)]
    assert max(map(len, values)) == 4095
