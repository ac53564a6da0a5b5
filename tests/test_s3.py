"""The s3 destination: against moto's S3 server with signature checking on, and as a pure destination.

The moto server (``moto[server]``, started once per session on a free port) verifies every SigV4
signature and IAM permission once set up (``POST /moto-api/reset-auth`` with ``0``): a wrong secret
really fails, and a key without s3:PutObject really gets AccessDenied. The tests read objects back
with plain GETs (urllib), never through a boto3 client, with moto's checks off for those reads only,
so they depend on no release's reading of IAM policies.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from yarl import URL

from conftest import full_record
from spancast import Broadcaster, ConfigError
from spancast.destinations import make_destination
from spancast.destinations import s3 as s3mod
from spancast.pipeline.retry import Action, RetryPolicy

FAST = RetryPolicy(max_attempts=3, max_retry_elapsed_s=5, initial_backoff_s=0.01, max_backoff_s=0.05)
BUCKET = "spancast-traces"
REGION = "us-east-1"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLE-session-token-7a1c"
NEEDLES = ["PROMPT-7f3a needle", "COMPLETION-91bc needle", "REASONING-55de needle", "MESSAGE-c0ff needle"]


# ---------------------------------------------------------------- a signed HTTP client for the fixture


def _call(method: str, url: str, creds: tuple, service: str = "s3", data: bytes = b"",
          headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = AWSRequest(method=method, url=url, data=data, headers=headers or {})
    (S3SigV4Auth if service == "s3" else SigV4Auth)(Credentials(*creds), service, REGION).add_auth(request)
    raw = urllib.request.Request(url, data=data or None, method=method, headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(raw, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Moto:
    """moto's S3 (and IAM, STS) on a local port, with a bucket, a writer, a reader and a role."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.boot = ("AKIABOOTSTRAP0000000", "bootstrap")  # any credentials do while auth is off

    def query(self, service: str, params: dict) -> bytes:
        version = {"iam": "2010-05-08", "sts": "2011-06-15"}[service]
        body = urllib.parse.urlencode({**params, "Version": version}).encode()
        status, _, answer = _call("POST", self.endpoint + "/", self.boot, service, body,
                                  {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        assert status == 200, answer
        return answer

    def user(self, name: str, statements: list[dict]) -> tuple[str, str]:
        self.query("iam", {"Action": "CreateUser", "UserName": name})
        policy = json.dumps({"Version": "2012-10-17", "Statement": statements})
        self.query("iam", {"Action": "PutUserPolicy", "UserName": name, "PolicyName": "p", "PolicyDocument": policy})
        answer = self.query("iam", {"Action": "CreateAccessKey", "UserName": name})
        return _xml(answer, "AccessKeyId"), _xml(answer, "SecretAccessKey")

    def temporary(self) -> tuple[str, str, str]:
        """Credentials with a session token, from STS AssumeRole of a role that may PutObject."""
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                          "Action": "sts:AssumeRole"}]}
        answer = self.query("iam", {"Action": "CreateRole", "RoleName": "writer-role",
                                    "AssumeRolePolicyDocument": json.dumps(trust)})
        arn = _xml(answer, "Arn")
        policy = {"Version": "2012-10-17", "Statement": [_allow("s3:PutObject", f"arn:aws:s3:::{BUCKET}/*")]}
        self.query("iam", {"Action": "PutRolePolicy", "RoleName": "writer-role", "PolicyName": "p",
                           "PolicyDocument": json.dumps(policy)})
        answer = self.query("sts", {"Action": "AssumeRole", "RoleArn": arn, "RoleSessionName": "spancast"})
        return _xml(answer, "AccessKeyId"), _xml(answer, "SecretAccessKey"), _xml(answer, "SessionToken")

    def auth(self, initial_no_auth_count: str) -> None:
        request = urllib.request.Request(self.endpoint + "/moto-api/reset-auth", data=initial_no_auth_count.encode(),
                                         method="POST", headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200

    def _read(self, url: str) -> tuple[int, dict, bytes]:
        """The tests' own read-back, with moto's checks off for it: what a reader user may do differs
        between moto releases (5.2.6 refuses a ListBucket that 5.2.5 allows), and what is under test is
        spancast's writes, which always go through the checks."""
        self.auth("inf")
        try:
            return _call("GET", url, self.boot)
        finally:
            self.auth("0")

    def keys(self, prefix: str) -> list[str]:
        query = urllib.parse.urlencode({"list-type": "2", "prefix": prefix})
        status, _, answer = self._read(f"{self.endpoint}/{BUCKET}?{query}")
        assert status == 200, answer
        return sorted(re.findall(r"<Key>([^<]*)</Key>", answer.decode()))

    def get(self, key: str) -> tuple[dict, bytes]:
        status, headers, body = self._read(f"{self.endpoint}/{BUCKET}/{urllib.parse.quote(key, safe='/~')}")
        assert status == 200, body
        return {k.lower(): v for k, v in headers.items()}, body


def _allow(action, resource) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def _xml(answer: bytes, tag: str) -> str:
    return re.search(rf"<{tag}>([^<]*)</{tag}>".encode(), answer).group(1).decode()


@pytest.fixture(scope="session")
def moto():
    import moto.server as server_module  # the test extra installs moto[server]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    m = Moto(f"http://{host}:{port}")
    deadline = time.monotonic() + 30
    while True:  # answers once its app is loaded
        try:
            with urllib.request.urlopen(m.endpoint + "/moto-api/data.json", timeout=5):
                break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        status, _, answer = _call("PUT", f"{m.endpoint}/{BUCKET}", m.boot)
        assert status == 200, answer
        m.writer = m.user("writer", [_allow("s3:PutObject", f"arn:aws:s3:::{BUCKET}/*")])
        m.reader = m.user("reader", [_allow("s3:GetObject", f"arn:aws:s3:::{BUCKET}/*")])  # may not write
        m.temp = m.temporary()
        m.auth("0")  # from here on every request is authenticated and authorised
        yield m
    finally:
        m.auth("inf")
        server.stop()


def s3_config(m: Moto, prefix: str, creds: tuple | None = None, **extra) -> dict:
    akid, secret, *token = creds or m.writer
    mapping = {"type": "s3", "bucketName": BUCKET, "endpoint": m.endpoint, "region": REGION, "accessKeyId": akid,
               "secretAccessKey": secret, "prefix": prefix, **extra}
    if token:
        mapping["sessionToken"] = token[0]
    return mapping


def deliver(mapping: dict, records: list, **kwargs) -> dict:
    with Broadcaster([mapping], retry=FAST, **kwargs) as b:
        for record in records:
            assert b.emit(record)
        assert b.flush(20)
        stats = b.stats()
    (d,) = stats["destinations"].values()
    return d


# ---------------------------------------------------------------- through moto, signatures checked


def test_trace_layout_writes_one_object_per_generation(moto):
    own = [full_record(i, trace={"trace_name": "t", "tier": "gold"}) for i in range(3)]  # trace id from the generation
    shared = [full_record(10 + i, trace={"trace_id": "conversation-42", "span_name": "step"}) for i in range(2)]
    records = own + shared
    d = deliver(s3_config(moto, "per-trace"), records, max_batch_records=512)
    assert d["delivered"] == 5 and d["dropped"] == {}
    assert sum(d["batches"].values()) == 5  # the lane sends one record per request for this layout

    dest = make_destination(s3_config(moto, "per-trace"))
    expected = sorted(dest.object_key(r, r) for r in records)
    assert moto.keys("per-trace/") == expected
    for key in expected:
        assert re.fullmatch(r"per-trace/2024-11-19/[A-Za-z0-9._~-]+-1732000000(-gen-\d+-abcdef)?\.json", key), key
    # Two generations of one caller's trace keep objects of their own.
    assert len([k for k in expected if "conversation-42" in k]) == 2

    by_id = {r.id: r for r in records}
    for key in expected:
        headers, body = moto.get(key)
        assert headers["content-type"] == "application/json" and "content-encoding" not in headers
        assert body.count(b"\n") == 0  # one line: Athena's JSON SerDe reads it as one row
        doc = json.loads(body)
        gen = doc["observations"][-1]
        record = by_id[gen["id"]]
        assert gen["type"] == "GENERATION" and gen["model"] == record.model
        assert (gen["promptTokens"], gen["completionTokens"], gen["totalCost"]) == (1200, 300, 0.0075)
        assert doc["input"] == {"messages": record.messages}
        assert doc["output"] == {"role": "assistant", "content": record.completion}
        assert (doc["userId"], doc["sessionId"], doc["apiKeyName"]) == ("user-42", "sess-7", "prod-key")
        assert doc["timestamp"] == gen["startTime"] == "2024-11-19T07:06:40.000Z"
        if record in shared:
            assert doc["id"] == "conversation-42" and doc["observations"][0]["type"] == "SPAN"
            assert gen["parentObservationId"] == doc["observations"][0]["id"]
        else:
            assert re.fullmatch(r"[0-9a-f]{32}", doc["id"]) and doc["name"] == "t"
            assert doc["metadata"] == gen["metadata"] == {"tier": "gold"}


def test_redelivery_overwrites_the_same_key(moto):
    first = full_record(1, completion="first answer")
    again = full_record(1, completion="second answer")  # the same generation delivered once more
    assert deliver(s3_config(moto, "redeliver"), [first])["delivered"] == 1
    assert deliver(s3_config(moto, "redeliver"), [again])["delivered"] == 1
    (key,) = moto.keys("redeliver/")
    assert json.loads(moto.get(key)[1])["output"]["content"] == "second answer"

    batch = [full_record(i) for i in range(4)]
    for _ in range(2):
        assert deliver(s3_config(moto, "redeliver-nd", layout="ndjson"), batch, max_batch_records=4)["delivered"] == 4
    assert moto.keys("redeliver-nd/") == [
        "redeliver-nd/2024-11-19/1732000000-gen-1732000000-abcdef-gen-1732000003-abcdef.ndjson"]


def test_ndjson_gzip_writes_one_object_per_batch(moto):
    records = [full_record(i) for i in range(10)]
    d = deliver(s3_config(moto, "batched", layout="ndjson", compression="gzip"), records, max_batch_records=5)
    assert d["delivered"] == 10 and d["dropped"] == {}
    keys = moto.keys("batched/")
    assert keys == ["batched/2024-11-19/1732000000-gen-1732000000-abcdef-gen-1732000004-abcdef.ndjson.gz",
                    "batched/2024-11-19/1732000000-gen-1732000005-abcdef-gen-1732000009-abcdef.ndjson.gz"]
    ids = []
    for key in keys:
        headers, raw = moto.get(key)
        assert headers["content-type"] == "application/x-ndjson" and headers["content-encoding"] == "gzip"
        lines = gzip.decompress(raw).decode().splitlines()
        ids += [json.loads(line)["observations"][-1]["id"] for line in lines]
    assert ids == [r.id for r in records]


def test_keys_with_unusual_values_survive_the_trip_as_signed(moto):
    odd = full_record(3, id="gen/3:ä b", api_key_name="team key/ü", trace={"trace_id": "a=b&c"})
    d = deliver(s3_config(moto, "odd", pathTemplate="{prefix}/{apiKeyName}/{year}/{month}/{day}"), [odd])
    assert d["delivered"] == 1 and d["dropped"] == {}, d  # moto checked the signature against the wire path
    (key,) = moto.keys("odd/")
    assert re.fullmatch(r"odd/team_key_ü/2024/11/19/a_b_c~[0-9a-f]{16}-1732000000-gen_3_b~[0-9a-f]{16}\.json", key), key
    assert json.loads(moto.get(key)[1])["id"] == "a=b&c"


def test_privacy_mode_objects_carry_no_content(moto):
    records = [full_record(i, prompt=NEEDLES[0], completion=NEEDLES[1], reasoning=NEEDLES[2],
                           messages=[{"role": "user", "content": NEEDLES[3]}]) for i in range(3)]
    assert deliver(s3_config(moto, "private", privacyMode=True), records)["delivered"] == 3
    keys = moto.keys("private/")
    assert len(keys) == 3
    for key in keys:
        body = moto.get(key)[1]
        for needle in NEEDLES:
            assert needle.split()[0].encode() not in body
        doc = json.loads(body)
        assert "input" not in doc and "output" not in doc
        assert doc["observations"][-1]["totalTokens"] == 1500 and doc["userId"] == "user-42"


def test_a_wrong_secret_is_a_permanent_error_counted_as_dropped(moto, caplog):
    akid, _ = moto.writer
    d = deliver(s3_config(moto, "wrong", creds=(akid, SECRET)), [full_record(i) for i in range(3)])
    assert d["delivered"] == 0 and d["dropped"] == {"permanent_http_error": 3} and d["retried"] == 0
    assert "SignatureDoesNotMatch" in d["last_error"] and SECRET not in d["last_error"]
    assert moto.keys("wrong/") == []
    assert SECRET not in caplog.text


def test_temporary_credentials_with_a_session_token(moto):
    assert deliver(s3_config(moto, "temporary", creds=moto.temp), [full_record(1)])["delivered"] == 1
    assert len(moto.keys("temporary/")) == 1
    akid, secret, _ = moto.temp
    d = deliver(s3_config(moto, "temporary-bad", creds=(akid, secret, "not-the-token")), [full_record(1)])
    assert d["dropped"] == {"permanent_http_error": 1} and "InvalidToken" in d["last_error"]


def test_connection_test_proves_write_permission(moto):
    good = s3_config(moto, "probe")
    result = Broadcaster([good]).test_connection("s3")
    assert result.ok and result.status == 200, result
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert moto.keys("probe/") == [f"probe/{today}/.spancast-connection-test.json"]
    doc = json.loads(moto.get(f"probe/{today}/.spancast-connection-test.json")[1])
    assert doc["observations"][-1]["name"] == "spancast-connection-test"

    for creds, code in ((moto.reader, "AccessDenied"), ((moto.writer[0], SECRET), "SignatureDoesNotMatch")):
        result = Broadcaster([s3_config(moto, "probe-denied", creds=creds)]).test_connection("s3")
        assert not result.ok and result.status == 403 and code in result.excerpt and "credentials" in result.hint
    assert moto.keys("probe-denied/") == []


# ---------------------------------------------------------------- the destination on its own

BASE = {"type": "s3", "bucketName": BUCKET, "accessKeyId": "AKIAEXAMPLE000000000", "secretAccessKey": SECRET}


def s3(**extra):
    return make_destination({**BASE, **extra})


def verify(request, secret: str = SECRET, token: str | None = None, region: str = REGION) -> None:
    """Recompute the signature with botocore from what a server receives (the path as aiohttp sends it)."""
    auth = dict(re.findall(r"(Credential|SignedHeaders|Signature)=([^,\s]+)", request.headers["Authorization"]))
    signed = auth["SignedHeaders"].split(";")
    headers = {k: v for k, v in request.headers.items() if k.lower() in signed}
    wire = URL(request.url)
    assert wire.raw_path == urlsplit(request.url).path  # sent as signed: no re-encoding on the way
    aws = AWSRequest(method=request.method, url=str(wire), data=bytes(request.body), headers=headers)
    aws.context["timestamp"] = request.headers["X-Amz-Date"]
    signer = S3SigV4Auth(Credentials(auth["Credential"].split("/")[0], secret, token), "s3", region)
    expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
    assert auth["Signature"] == expected
    assert request.headers["X-Amz-Content-SHA256"] == hashlib.sha256(bytes(request.body)).hexdigest()
    assert {"host", "x-amz-date", "x-amz-content-sha256", "content-type"} <= set(signed)


def test_requests_are_signed_over_the_bytes_sent():
    d = s3(sessionToken=TOKEN, headers={"x-amz-storage-class": "STANDARD_IA"}, compression="gzip",
           layout="ndjson")
    records = [full_record(i) for i in range(3)]
    encoder = d.new_encoder()
    encoder.extend(records)
    body = encoder.finish()
    (payload,) = d.payloads(body, records)
    assert payload.body is body and payload.key.endswith(".ndjson.gz")  # the key beside the body, not in it
    wire = d.compressor.compress(body)  # the pipeline's shared compression step
    request = d.build_request(payload, wire, d.compressor.content_encoding)
    assert request.method == "PUT" and request.body is wire and request.url == d.object_url(payload.key)
    assert request.headers["Content-Encoding"] == "gzip" and request.headers["X-Amz-Security-Token"] == TOKEN
    assert gzip.decompress(wire) == body and body.count(b"\n") == 3
    verify(request, token=TOKEN)  # the signature covers the gzipped bytes, which are what is sent
    for signed in ("x-amz-storage-class", "content-encoding", "x-amz-security-token"):
        assert signed in request.headers["Authorization"]


def test_odd_ids_make_keys_that_are_sent_as_signed():
    d = s3(pathTemplate="{prefix}/{apiKeyName}/{date}")
    record = full_record(1, id="gen:1/(x)*!'$,;@=é", api_key_name="a b/c", trace={"trace_id": ".."})
    request = d.test_request()[0]
    verify(request)
    encoder = d.new_encoder()
    encoder.append(record)
    (payload,) = d.payloads(encoder.finish(), [record])
    assert re.fullmatch(r"openrouter-traces/a_b_c/2024-11-19/\.\.~[0-9a-f]{16}-1732000000-gen_1_x_~[0-9a-f]{16}\.json",
                        payload.key), payload.key
    request = d.wire_request(payload)
    verify(request)
    other = full_record(1, id="gen:1/(x)*!'$,;@=è", api_key_name="a b/c", trace={"trace_id": ".."})
    assert d.object_key(other, other) != payload.key  # cleaned alike, told apart by the hash


def test_urls_path_style_and_virtual_hosted():
    assert s3().url == f"https://{BUCKET}.s3.us-east-1.amazonaws.com/"
    assert s3(region="eu-west-1").url == f"https://{BUCKET}.s3.eu-west-1.amazonaws.com/"
    assert s3(bucketName="my.dotted.bucket").url == "https://s3.us-east-1.amazonaws.com/my.dotted.bucket/"
    assert s3(endpoint="https://acct.r2.cloudflarestorage.com/", region="auto").url == \
        f"https://acct.r2.cloudflarestorage.com/{BUCKET}/"
    assert s3(endpoint="http://minio:9000", pathStyle=False).url == f"http://{BUCKET}.minio:9000/"


def test_layouts_batch_as_they_should():
    trace, ndjson = s3(), s3(layout="ndjson")
    assert trace.max_batch_records == 1 and ndjson.max_batch_records is None
    encoder = trace.new_encoder()
    assert encoder.append(full_record(1)) > 0 and encoder.append(full_record(2)) == 0
    with pytest.raises(ValueError):
        trace.new_encoder().extend([full_record(1), full_record(2)])
    assert trace.new_encoder().append_many([full_record(1), full_record(2)], 0, 512, 1 << 20, []) == (1, "bytes")
    one = ndjson.new_encoder()
    one.append(full_record(5))
    (payload,) = ndjson.payloads(one.finish(), [full_record(5)])
    assert payload.key == "openrouter-traces/2024-11-19/1732000000-gen-1732000005-abcdef.ndjson"


def test_bad_settings_name_the_key():
    cases = [
        ({"bucketName": None}, "d.bucketName", "missing required field `bucketName`"),
        ({"bucketName": "a/b"}, "d.bucketName", "letters, digits"),
        ({"secretAccessKey": ""}, "d.secretAccessKey", "must not be empty"),
        ({"pathTemplate": "{prefix}/{hour}"}, "d.pathTemplate", "unknown variable {hour}"),
        ({"pathTemplate": "dt={date}"}, "d.pathTemplate", "'='"),
        ({"pathTemplate": "{prefix}/../x"}, "d.pathTemplate", "'..'"),
        ({"pathTemplate": "{prefix}/{date"}, "d.pathTemplate", "unbalanced"),
        ({"prefix": "a:b"}, "d.prefix", "':'"),
        ({"compression": "zstd"}, "d.compression", "none or gzip"),
        ({"endpoint": "minio:9000"}, "d.endpoint", "http(s) URL"),
        ({"region": "eu west"}, "d.region", "region name"),
        ({"layout": "parquet"}, "d.layout", "invalid enum value"),
        ({"bogus": 1}, "d.bogus", "unknown key"),
    ]
    for extra, path, reason in cases:
        mapping = {**BASE, **extra}
        mapping = {k: v for k, v in mapping.items() if v is not None}
        with pytest.raises(ConfigError) as info:
            make_destination(mapping, "d")
        assert info.value.path == path and reason in info.value.reason, (extra, info.value)
        assert SECRET not in str(info.value)
    with pytest.raises(ConfigError) as info:
        make_destination({"type": "s3", "bucketName": "b", "secretAccessKey": SECRET}, "d")
    assert info.value.path == "d.accessKeyId"


def test_without_botocore_the_error_says_what_to_install(monkeypatch):
    s3mod._aws.cache_clear()
    monkeypatch.setitem(sys.modules, "botocore.auth", None)
    try:
        with pytest.raises(ConfigError) as info:
            make_destination(BASE, "d")
        assert info.value.path == "d.type" and "spancast[s3]" in info.value.reason
    finally:
        monkeypatch.undo()
        s3mod._aws.cache_clear()
    assert s3().type == "s3"


def test_secrets_never_show():
    d = s3(sessionToken=TOKEN)
    encoder = d.new_encoder()
    encoder.append(full_record(1))
    request = d.request(encoder.finish())
    text = "\n".join([repr(d), repr(d.settings), repr(request), str(request), repr(d.test_request())])
    assert SECRET not in text and TOKEN not in text and "AKIAEXAMPLE" not in text
    assert "'***'" in repr(d.settings)


def _xml_error(code: str, extra: str = "") -> bytes:
    return f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>m</Message>{extra}</Error>".encode()


@pytest.mark.parametrize("status, code, action", [
    (200, "", Action.DELIVERED),
    (503, "SlowDown", Action.RETRY),
    (500, "InternalError", Action.RETRY),
    (400, "RequestTimeout", Action.RETRY),
    (409, "OperationAborted", Action.RETRY),
    (502, "", Action.RETRY),
    (429, "", Action.RETRY),
    (400, "EntityTooLarge", Action.SPLIT),
    (413, "", Action.SPLIT),
    (403, "AccessDenied", Action.PERMANENT),
    (403, "InvalidAccessKeyId", Action.PERMANENT),
    (403, "SignatureDoesNotMatch", Action.PERMANENT),
    (404, "NoSuchBucket", Action.PERMANENT),
    (400, "ExpiredToken", Action.PERMANENT),
    (400, "InvalidBucketName", Action.PERMANENT),
])
def test_classify_reads_the_error_code(status, code, action):
    decision = s3().classify(status, {}, _xml_error(code) if code else b"")
    assert decision.action is action
    if code:
        assert code in decision.reason
    if code == "SlowDown":
        assert decision.overload


def test_a_wrong_region_is_named():
    decision = s3().classify(400, {}, _xml_error("AuthorizationHeaderMalformed", "<Region>eu-west-1</Region>"))
    assert decision.action is Action.PERMANENT and "eu-west-1" in decision.reason
    decision = s3().classify(301, {"x-amz-bucket-region": "ap-south-1"}, _xml_error("PermanentRedirect"))
    assert decision.action is Action.PERMANENT and "ap-south-1" in decision.reason


def test_a_skewed_clock_is_corrected_and_retried():
    d = s3()
    ahead = datetime.now(timezone.utc) + timedelta(hours=1)
    decision = d.classify(403, {"Date": format_datetime(ahead, usegmt=True)}, _xml_error("RequestTimeTooSkewed"))
    assert decision.action is Action.RETRY
    request = d.test_request()[0]
    signed_at = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    assert abs((signed_at - ahead).total_seconds()) < 60
    verify(request)


@pytest.mark.parametrize("layout", ["ndjson", "trace"])
def test_a_record_with_an_unwritable_value_is_refused_alone(layout):
    # An inf in a float field overflowed int() deep in rendering: it must be that record's EncodeError,
    # leaving the object being built as it was, so the others are delivered and it alone is counted.
    from spancast import EncodeError
    from spancast.destinations import make_destination

    d = make_destination({"type": "s3", "bucketName": "b", "endpoint": "http://127.0.0.1:9", "region": "us-east-1",
                          "accessKeyId": "AKIDEXAMPLE", "secretAccessKey": "s", "layout": layout})
    encoder = d.new_encoder()
    size = encoder.size
    with pytest.raises(EncodeError):
        encoder.append(full_record(2, time_to_first_token_ms=float("inf")))
    assert encoder.records == 0 and encoder.size == size  # nothing of it stayed behind
    assert encoder.append(full_record(1)) > 0 and encoder.records == 1
