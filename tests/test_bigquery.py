"""The bigquery destination: settings, the self-signed JWT, the insertAll body and its rows, answers, the probe,
and delivery end to end through a Broadcaster against a local fake of tabledata.insertAll.

There is no BigQuery here. The fake is an OtlpSink with the rules of tests/contract/bigquery.py: the path,
a Bearer JWT whose RS256 signature verifies with the test service account's public key (generated with
cryptography when the contract module is imported) and whose kid / iss / sub / aud / iat / exp are what
Google checks, an insertAll body of the documented shape, every row an insertId unique in the request and
a json object of the table's columns with values of their types. It answers as scripted: 200, 200 with
insertErrors, 404, 429, a dropped connection.
"""

from __future__ import annotations

import json
import logging
import socket

import pytest

from conftest import full_record
from contract import bigquery as contract
from sinkthread import SinkThread
from spancast import Broadcaster, ConfigError, Generation
from spancast.destinations import bigquery as bq
from spancast.destinations import clickhouse as ch
from spancast.destinations import make_destination
from spancast.errors import EncodeError
from spancast.pipeline.retry import Action, RetryPolicy
from spancast.testing.sink import Expect, OtlpSink, Reply

FAST = RetryPolicy(max_attempts=5, max_retry_elapsed_s=10, initial_backoff_s=0.01, max_backoff_s=0.05)
N = 12
NAMES = [name for name, _ in bq.COLUMNS]


def config(**extra) -> dict:
    return {"type": "bigquery", "projectId": contract.PROJECT, "credentials": contract.KEY_JSON, **extra}


def body_of(d, recs) -> dict:
    enc = d.new_encoder()
    enc.extend(recs)
    return json.loads(enc.finish())


def jwt_of(request) -> str:
    scheme, _, token = request.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


def fake(default: Reply | None = None) -> OtlpSink:
    expect = Expect(path=contract.PATH, method="POST", content_types=frozenset({"application/json"}),
                    auth=contract.check_auth, decode=contract.decode)
    return OtlpSink(expect, default=default)


def answer(doc: dict, status: int = 200) -> Reply:
    return Reply("status", status, {"Content-Type": "application/json"}, json.dumps(doc).encode())


def insert_errors(*bad: int, rows: int = N, reason: str = "invalid") -> Reply:
    """BigQuery's 200 for a request with invalid rows and skipInvalidRows false: the others are "stopped"."""
    entries = [{"index": i, "errors": [{"reason": reason, "location": "timestamp", "debugInfo": "",
                                        "message": f"row {i} is out of the partition window"}]}
               if i in bad else {"index": i, "errors": [{"reason": "stopped", "location": "", "message": ""}]}
               for i in range(rows)]
    return answer({"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": entries})


def google_error(status: int, reason: str, message: str = "") -> Reply:
    return answer({"error": {"code": status, "message": message or reason, "status": "X",
                             "errors": [{"message": message or reason, "domain": "global", "reason": reason}]}}, status)


def burst(sink, recs, **extra) -> dict:
    b = Broadcaster([contract.config(sink.base_url, **extra)], max_batch_records=N, retry=FAST).start()
    for r in recs:
        b.emit(r)
    assert b.flush(10)
    stats = b.stats()
    b.close()
    (d,) = stats["destinations"].values()
    assert d["delivered"] + sum(d["dropped"].values()) + d["queued"] + d["in_flight"] == d["received"]
    return d


def sent_rows(sink) -> list[dict]:
    return [entry["json"] for received in sink.received for entry in json.loads(received.body)["rows"]]


# ---------------------------------------------------------------- settings


def test_defaults_are_openrouters_and_camel_or_snake_case_is_accepted():
    d = make_destination(config())
    s = d.settings
    assert (s.dataset, s.table, s.base_url) == ("openrouter", "openrouter_traces", "https://bigquery.googleapis.com")
    assert d.url == ("https://bigquery.googleapis.com/bigquery/v2/projects/spancast-contract/datasets/openrouter"
                     "/tables/openrouter_traces/insertAll")
    snake = make_destination({"type": "bigquery", "project_id": contract.PROJECT, "credentials": contract.KEY_INFO,
                              "base_url": "http://127.0.0.1:1/proxy/", "skip_invalid_rows": True})
    assert snake.url.startswith("http://127.0.0.1:1/proxy/bigquery/v2/projects/")
    assert snake.settings.skip_invalid_rows is True
    assert isinstance(snake.settings.credentials, bq.Secret) and repr(snake.settings.credentials) == "'***'"
    assert json.loads(snake.settings.credentials) == contract.KEY_INFO  # a mapping works as the file's text does
    assert "google.com:my-project" in make_destination(config(projectId="google.com:my-project")).url
    assert repr(d) == "<BigQueryDestination name='bigquery' table=spancast-contract.openrouter.openrouter_traces>"


def _key(**changes) -> str:
    info = {**contract.KEY_INFO, **changes}
    return json.dumps({k: v for k, v in info.items() if v is not None})


@pytest.mark.parametrize("extra, key, words", [
    ({"projectId": "My Project"}, "projectId", "project id"),
    ({"projectId": "ab"}, "projectId", "project id"),
    ({"dataset": "obs-data"}, "dataset", "letters"),
    ({"table": "a/b"}, "table", "letters"),
    ({"baseUrl": "https://user:pw@bq.example"}, "baseUrl", "credentials"),
    ({"baseUrl": "ftp://bq.example"}, "baseUrl", "http"),
    ({"baseUrl": "https://bq.example/?x=1"}, "baseUrl", "query"),
    ({"headers": {"Authorization": "Bearer x"}}, "headers.Authorization", "credentials"),
    ({"credentials": 42}, "credentials", "expected"),
    ({"credentials": "/path/to/key.json"}, "credentials", "not its path"),
    ({"credentials": "[1, 2]"}, "credentials", "object"),
    ({"credentials": _key(type="authorized_user")}, "credentials", "service_account"),
    ({"credentials": _key(client_email=None)}, "credentials", "client_email"),
    ({"credentials": _key(private_key=None)}, "credentials", "private_key"),
    ({"credentials": _key(private_key="-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n")},
     "credentials", "PEM"),
    ({"resource": {"service.name": object()}}, "resource", ""),
])
def test_bad_settings_name_the_key_and_never_repeat_the_key(extra, key, words):
    with pytest.raises(ConfigError) as info:
        make_destination(config(**extra))
    assert info.value.path == f"destination.{key}", info.value
    assert words in str(info.value)
    for secret in contract.SECRETS:
        assert secret not in str(info.value) and secret not in repr(info.value)


def test_a_missing_project_or_key_names_the_key():
    for missing in ("projectId", "credentials"):
        mapping = {k: v for k, v in config().items() if k != missing}
        with pytest.raises(ConfigError) as info:
            make_destination(mapping)
        assert info.value.path == f"destination.{missing}"


def test_without_google_auth_the_error_says_which_extra_to_install(monkeypatch):
    def missing():
        raise ImportError("No module named 'google.auth'")

    monkeypatch.setattr(bq, "_google_auth", missing)
    with pytest.raises(ConfigError) as info:
        make_destination(config())
    assert info.value.path == "destination.type" and "spancast[bigquery]" in str(info.value)


# ---------------------------------------------------------------- the JWT


def test_the_request_carries_a_self_signed_jwt_google_would_accept():
    d = make_destination(config())
    request = d.request(b"{}")
    claims = contract.verify_jwt(jwt_of(request))  # signature, kid, iss, sub, aud, iat/exp
    assert claims["iss"] == claims["sub"] == contract.CLIENT_EMAIL
    assert claims["aud"] == "https://bigquery.googleapis.com/"
    assert claims["exp"] - claims["iat"] == 3600 and set(claims) == {"iss", "sub", "aud", "iat", "exp"}
    assert request.method == "POST" and request.url == d.url
    assert request.headers["Content-Type"] == "application/json" and request.headers["User-Agent"] == "spancast"


def test_the_jwt_is_minted_without_any_network_call(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the destination opened a connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    d = make_destination(config())
    contract.verify_jwt(jwt_of(d.request(b"{}")))


def test_the_jwt_is_reused_then_reminted_five_minutes_before_it_expires():
    d = make_destination(config())
    now = [1_800_000_000.0]
    d.clock = lambda: now[0]
    first = jwt_of(d.request(b"{}"))
    now[0] += 3600 - 300 - 1
    assert jwt_of(d.request(b"{}")) == first
    now[0] += 1
    second = jwt_of(d.request(b"{}"))
    assert second != first
    claims = contract.verify_jwt(second, now_s=now[0])
    assert claims["iat"] == int(now[0])
    d.classify(401, {}, b"")  # a refused JWT is not reused
    now[0] += 1
    assert jwt_of(d.request(b"{}")) != second


# ---------------------------------------------------------------- the body and its rows


def test_the_body_is_one_insertall_request_with_an_insert_id_per_row():
    d = make_destination(config())
    recs = [full_record(i) for i in range(5)]
    doc = body_of(d, recs)
    assert {k: v for k, v in doc.items() if k != "rows"} == {
        "kind": "bigquery#tableDataInsertAllRequest", "skipInvalidRows": False, "ignoreUnknownValues": False}
    assert [r["insertId"] for r in doc["rows"]] == [r.id for r in recs]
    assert contract.decode(json.dumps(doc).encode(), "application/json") == [r.id for r in recs]
    assert body_of(make_destination(config(skipInvalidRows=True)), recs[:1])["skipInvalidRows"] is True


def test_a_long_generation_id_gets_a_short_stable_insert_id():
    long_id = "gen-" + "x" * 300
    assert bq.insert_id(long_id) == bq.insert_id(long_id) != bq.insert_id(long_id + "y")
    assert len(bq.insert_id(long_id)) <= 128 and bq.insert_id("gen-1") == "gen-1"


def test_rows_read_back_field_by_field():
    d = make_destination(config(resource={"deployment.environment": "prod"}))
    rec = full_record(3, cancelled=True, provider_attempts=[{"provider": "OpenAI", "status": 200}])
    got = body_of(d, [rec])["rows"][0]["json"]
    assert list(got) == NAMES  # every column, in the schema's order
    source = ch.row(rec, d.id_salt)
    for name, kind in bq.COLUMNS:
        if name == "resource_attributes":
            assert json.loads(got[name]) == {"service.name": "spancast", "deployment.environment": "prod"}
        elif name == "timestamp":
            assert got[name] == "2024-11-19T07:06:40.000003Z"
        elif kind == "INT64":
            assert got[name] == str(source[name.upper()])
        elif kind == "BOOL":
            assert got[name] is bool(source[name.upper()])
        elif kind == "JSON":
            assert json.loads(got[name]) == json.loads(source[name.upper()])
        else:
            assert got[name] == source[name.upper()], name
    assert got["prompt_tokens"] == "1200" and got["total_tokens"] == "1500" and got["cancelled"] is True
    assert got["user_id"] == "user-42" and got["session_id"] == "sess-7" and got["provider_name"] == "OpenAI"
    assert got["status"] == "ok" and got["level"] == "DEFAULT" and got["duration_ms"] == 1250.0
    assert json.loads(got["input"])["messages"][1]["content"].startswith('What is "OTLP"?')
    assert json.loads(got["output"]) == {"completion": "OTLP is the OpenTelemetry Protocol."}
    assert json.loads(got["metadata"])["customer_tier"] == "gold"
    assert json.loads(got["attributes"])["gen_ai.request.model"] == "openai/gpt-4o"
    for column in bq.COLUMNS:  # each value of its column's type, as the fake (and BigQuery) checks
        contract._check_value(column[0], got[column[0]], "row", *contract.table_of(contract.TABLE_DDL))


def test_absent_values_are_zeros_and_nulls_and_content_columns_are_null_without_content():
    rec = Generation(id="gen-min", model="m", start_time_ns=1_700_000_000_000_000_000,
                     end_time_ns=1_700_000_000_500_000_000)
    got = bq.row(rec)
    assert got["prompt_tokens"] == "0" and got["total_cost"] == 0.0 and got["user_id"] == ""
    assert got["input"] is got["output"] is got["metadata"] is got["model_parameters"] is None
    assert got["resource_attributes"] is None  # row() without a destination's resource


def test_a_bad_record_adds_nothing_and_the_batch_goes_on():
    d = make_destination(config())
    enc = d.new_encoder()
    errors: list = []
    bad = full_record(1, prompt_tokens=2**63)  # a UInt64 ClickHouse takes, beyond BigQuery's INT64
    enc.append_many([full_record(0), bad, full_record(2)], 0, 3, 1 << 30, errors)
    assert [k for k, _ in errors] == [1] and isinstance(errors[0][1], EncodeError)
    assert "prompt_tokens" in str(errors[0][1])
    assert [r["insertId"] for r in json.loads(enc.finish())["rows"]] == [full_record(0).id, full_record(2).id]


def test_the_limits_are_bigquerys():
    d = make_destination(config())
    assert d.max_batch_records == 500 and d.max_batch_bytes < 10 * 1000 * 1000
    b = Broadcaster([config(baseUrl="http://127.0.0.1:9")], max_batch_records=5000,
                    max_batch_bytes=64 * 1024 * 1024).start()
    try:
        (lane,) = b.lanes
        assert lane.batcher.settings.max_batch_records == 500
        assert lane.batcher.settings.max_batch_bytes == d.max_batch_bytes
    finally:
        b.close()


def test_the_schema_declares_every_column_with_its_type():
    schema = bq.bigquery_schema("my-project", "obs", "traces")
    assert [f["name"] for f in schema.fields] == NAMES
    assert {f["name"]: f["type"] for f in schema.fields} == dict(bq.COLUMNS)
    assert {f["name"] for f in schema.fields if f["mode"] == "REQUIRED"} == {"generation_id", "timestamp"}
    for name in ("attributes", "resource_attributes", "input", "output", "metadata", "model_parameters"):
        assert dict(bq.COLUMNS)[name] == "JSON"
    assert dict(bq.COLUMNS)["timestamp"] == "TIMESTAMP" and dict(bq.COLUMNS)["prompt_tokens"] == "INT64"
    assert schema.ddl.startswith("CREATE TABLE IF NOT EXISTS `my-project.obs.traces` (\n")
    assert "PARTITION BY DATE(timestamp)" in schema.ddl
    for name, kind in bq.COLUMNS:
        assert f"  {name} " in schema.ddl and kind in schema.ddl
    assert json.loads(schema.fields_json()) == schema.fields
    assert "`openrouter.openrouter_traces`" in bq.bigquery_schema().ddl
    with pytest.raises(ConfigError):
        bq.bigquery_schema("p-roject", "bad name")
    # the column set is ClickHouse's and Snowflake's, lower-cased, plus resource_attributes
    assert [n for n in NAMES if n != "resource_attributes"] == [n.lower() for n, _ in ch.COLUMNS]


# ---------------------------------------------------------------- answers


def test_classify_follows_bigquery():
    d = make_destination(config())
    skip = make_destination(config(skipInvalidRows=True))
    ok = d.classify(200, {}, b'{"kind": "bigquery#tableDataInsertAllResponse"}')
    assert ok.action is Action.DELIVERED and ok.rejected_spans == 0
    bad = insert_errors(1, 4).body
    partial = d.classify(200, {}, bad)  # skipInvalidRows false: nothing went in
    assert partial.action is Action.DELIVERED and partial.rejected_spans >= N
    assert "row 1: invalid at timestamp: row 1 is out of the partition window" in partial.reason
    only_bad = json.dumps({"insertErrors": json.loads(bad)["insertErrors"][1:5:3]}).encode()  # rows 1 and 4
    partial = skip.classify(200, {}, only_bad)
    assert partial.action is Action.DELIVERED and partial.rejected_spans == 2
    transient = insert_errors(2, reason="backendError").body
    assert d.classify(200, {}, transient).action is Action.RETRY
    cut = bad[:300]  # a long answer the sender read only the start of
    assert d.classify(200, {}, cut).action is Action.DELIVERED and d.classify(200, {}, cut).rejected_spans >= 1
    assert skip.classify(200, {}, cut).rejected_spans >= 1
    assert d.classify(400, {}, google_error(400, "invalid").body).action is Action.PERMANENT
    assert d.classify(400, {}, google_error(400, "invalid").body).reason == "BigQuery invalid"
    big = google_error(400, "invalid", "Request payload size exceeds the limit: 10485760 bytes.").body
    assert d.classify(400, {}, big).action is Action.SPLIT
    assert d.classify(413, {}, b"").action is Action.SPLIT
    assert d.classify(401, {}, google_error(401, "unauthorized").body).action is Action.PERMANENT
    assert d.classify(403, {}, google_error(403, "accessDenied").body).action is Action.PERMANENT
    for reason in ("rateLimitExceeded", "quotaExceeded"):
        retry = d.classify(403, {"Retry-After": "2"}, google_error(403, reason).body)
        assert retry.action is Action.RETRY and retry.overload and retry.retry_after_s == 2
    assert d.classify(404, {}, google_error(404, "notFound").body).action is Action.PERMANENT
    for status in (408, 429, 500, 502, 503, 504):
        assert d.classify(status, {}, b"").action is Action.RETRY, status
    assert d.classify(429, {"Retry-After": "3"}, b"").retry_after_s == 3


@pytest.mark.parametrize("status, excerpt, words", [
    (401, '{"error": {"code": 401, "message": "Invalid JWT Signature."}}', "credentials"),
    (403, '{"error": {"errors": [{"reason": "accessDenied"}]}}', "Data Editor"),
    (403, "forbidden", "credentials"),
    (403, ('{"error": {"message": "Streaming insert is not allowed in the free tier", "errors": '
           '[{"reason": "accessDenied"}]}}'), "billing"),
    (403, '{"error": {"errors": [{"reason": "rateLimitExceeded"}]}}', "later"),
    (404, '{"error": {"message": "Not found: Table p:d.t", "errors": [{"reason": "notFound"}]}}', "bigquery_schema"),
    (404, "no route", "path"),
])
def test_hints_for_the_usual_mistakes(status, excerpt, words):
    assert words in make_destination(config()).hint(status, excerpt)


def test_the_probe_inserts_nothing_and_needs_the_insert_permission():
    d = make_destination(config())
    request, also_ok = d.test_request()
    assert also_ok == frozenset() and request.method == "POST" and request.url == d.url  # insertAll itself
    contract.verify_jwt(jwt_of(request))
    doc = json.loads(request.body)
    assert doc["skipInvalidRows"] is False and doc["ignoreUnknownValues"] is False and len(doc["rows"]) == 1
    values = doc["rows"][0]["json"]
    assert values[bq.PROBE_COLUMN] is True  # a column no table has: BigQuery lists the row in insertErrors
    assert set(values) - {bq.PROBE_COLUMN} == set(NAMES) and values["generation_id"] == "spancast-connection-test"
    assert contract.decode(request.body, "application/json") == []


# ---------------------------------------------------------------- secrets


def test_secrets_never_show_in_reprs_errors_or_previews(caplog):
    caplog.set_level(logging.DEBUG, logger="spancast")
    d = make_destination(config(headers={"X-Goog-User-Project": "billing-project"}))
    request = d.request(b"{}")
    token = jwt_of(request)
    shown = [repr(d), repr(d.settings), repr(request), repr(d.classify(401, {}, b"")), repr(d.test_request()[0]),
             str(request.headers.get("Authorization").__repr__())]
    b = Broadcaster([config()])
    shown.append(json.dumps(b.preview(full_record(1), "bigquery")))
    text = "\n".join(shown + [r.getMessage() for r in caplog.records])
    for secret in (*contract.SECRETS, token, token.split(".")[2]):
        assert secret not in text
    assert "'***'" in repr(d.settings)


# ---------------------------------------------------------------- end to end


def test_rows_are_delivered_field_by_field_with_a_verified_jwt():
    recs = [full_record(i) for i in range(N)]
    with SinkThread(fake()) as sink:
        d = burst(sink, recs)
    assert sink.problems == [] and d["delivered"] == N and d["dropped"] == {}
    assert sorted(sink.generation_ids()) == sorted(r.id for r in recs)
    rows = {row["generation_id"]: row for row in sent_rows(sink)}
    dest = make_destination(contract.config("http://127.0.0.1:9"))
    for rec in recs:
        assert rows[rec.id] == bq.row(rec, dest.resource_attributes, dest.id_salt)
    for received in sink.received:
        contract.verify_jwt(received.headers["Authorization"][7:])


def test_a_partial_insert_is_counted_not_retried():
    recs = [full_record(i) for i in range(N)]
    thread = SinkThread(fake())
    with thread as sink:
        thread.call(lambda s: s.script(insert_errors(1, 4)))
        d = burst(sink, recs)
    assert d["dropped"] == {"partial_success": N} and d["delivered"] == 0 and d["retried"] == 0
    assert "row 1: invalid at timestamp" in d["last_error"]
    thread = SinkThread(fake())
    with thread as sink:  # skipInvalidRows true: the valid rows went in
        only_bad = json.loads(insert_errors(1, 4).body)["insertErrors"][1:5:3]
        thread.call(lambda s: s.script(answer({"insertErrors": only_bad})))
        d = burst(sink, recs, skipInvalidRows=True)
    assert d["dropped"] == {"partial_success": 2} and d["delivered"] == N - 2


def test_a_missing_table_is_dropped_and_counted_and_a_429_is_retried():
    recs = [full_record(i) for i in range(N)]
    missing = google_error(404, "notFound", "Not found: Table spancast-contract:observability.openrouter_traces")
    with SinkThread(fake(default=missing)) as sink:
        d = burst(sink, recs)
    assert d["dropped"] == {"permanent_http_error": N} and d["retried"] == 0
    assert "notFound" in d["last_error"]
    thread = SinkThread(fake())
    with thread as sink:
        # No Retry-After here: classify reads it (test_classify_follows_bigquery); the limiter's pause has a
        # rare lost wake-up (pipeline/limiter.py) that would make this test flaky.
        thread.call(lambda s: s.script(Reply.error(429)))
        d = burst(sink, recs)
    assert d["delivered"] == N and d["retried"] == 1 and [r.status for r in sink.replies] == [429, 200]


def test_a_redelivered_batch_carries_the_same_insert_ids():
    recs = [full_record(i) for i in range(N)]
    thread = SinkThread(fake())
    with thread as sink:
        thread.call(lambda s: s.script(Reply.reset()))  # read, never answered: it may have landed
        d = burst(sink, recs)
    assert d["delivered"] == N and d["retried"] == 1 and len(sink.received) == 2
    first, second = ([row["insertId"] for row in json.loads(r.body)["rows"]] for r in sink.received)
    assert first == second == [r.id for r in recs]  # BigQuery drops the second copy of each row


def test_privacy_mode_sends_no_content_to_the_table():
    needles = ["PROMPT-1f2e", "COMPLETION-3d4c", "REASONING-5b6a", "MESSAGE-7980"]
    recs = [full_record(i, prompt=needles[0], completion=needles[1], reasoning=needles[2],
                        messages=[{"role": "user", "content": needles[3]}]) for i in range(N)]
    with SinkThread(fake()) as sink:
        d = burst(sink, recs, privacy_mode=True)
    assert d["delivered"] == N
    for row in sent_rows(sink):
        assert row["input"] is None and row["output"] is None and row["prompt_tokens"] == "1200"
    for received in sink.received:
        for needle in needles:
            assert needle.encode() not in received.raw


def test_the_connection_test_passes_and_fails_with_a_hint():
    with SinkThread(fake()) as sink:
        result = Broadcaster([contract.config(sink.base_url)]).test_connection("bigquery")
        assert result.ok and result.status == 200 and sink.problems == []
        assert sink.received and sink.generation_ids() == []  # the probe inserted nothing
    denied = google_error(403, "accessDenied", "Access Denied: Table: Permission bigquery.tables.updateData denied")
    with SinkThread(fake(default=denied)) as sink:
        result = Broadcaster([contract.config(sink.base_url)]).test_connection("bigquery")
        assert not result.ok and result.status == 403 and "Data Editor" in result.hint
    with SinkThread(fake(default=google_error(404, "notFound"))) as sink:
        result = Broadcaster([contract.config(sink.base_url)]).test_connection("bigquery")
        assert not result.ok and "bigquery_schema" in result.hint


def test_a_wrong_key_is_refused_by_the_fake_as_google_would(caplog):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    caplog.set_level(logging.DEBUG, logger="spancast")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with SinkThread(fake()) as sink:
        d = burst(sink, [full_record(0)], credentials=_key(private_key=other))
    assert d["dropped"] == {"permanent_http_error": 1} and sink.problems[0][0] == 401
    assert "Invalid JWT Signature" in d["last_error"]
    assert other not in caplog.text and other not in json.dumps(d)


# ---------------------------------------------------------------- a table made from OpenRouter's instructions


def openrouter_fake(default: Reply | None = None) -> OtlpSink:
    """The fake holding a table made from OpenRouter's DDL (contract.OPENROUTER_DDL): rows are checked against it."""
    expect = Expect(path=contract.PATH, method="POST", content_types=frozenset({"application/json"}),
                    auth=contract.check_auth,
                    decode=lambda body, ctype: contract.decode(body, ctype, contract.OPENROUTER_DDL))
    return OtlpSink(expect, default=default)


def inserted_rows(sink) -> list[dict]:
    """sent_rows without the connection test's probe row (which BigQuery never inserts)."""
    return [row for row in sent_rows(sink) if bq.PROBE_COLUMN not in row]


def test_schema_openrouter_names_exactly_the_columns_of_openrouters_table():
    printed = contract.table_of(bq.bigquery_schema(contract.PROJECT, contract.DATASET, contract.TABLE,
                                                   "openrouter").ddl)[0]
    theirs = contract.table_of(contract.OPENROUTER_DDL)[0]
    assert printed == {name: kind for name, kind in theirs.items() if name != "tags"}  # tags: never written
    assert list(printed) == [name for name, _ in bq.OPENROUTER_COLUMNS]
    assert not {"generation_id", "span_type", "provider_attempts"} & set(printed)
    with pytest.raises(ConfigError, match="spancast or openrouter"):
        bq.bigquery_schema(contract.PROJECT, schema="openinference")


def test_the_fake_holds_a_table_to_its_declared_columns():
    # the fake refuses what BigQuery refuses: a column the table does not declare, a REQUIRED one left out
    rec = full_record(1)
    spancast_row = bq.row(rec)
    body = json.dumps({"kind": bq.KIND, "skipInvalidRows": False, "ignoreUnknownValues": False,
                       "rows": [{"insertId": rec.id, "json": spancast_row}]}).encode()
    with pytest.raises(ValueError, match="no such field: cache_write_tokens"):
        contract.decode(body, "application/json", contract.OPENROUTER_DDL)
    assert contract.decode(body, "application/json") == [rec.id]
    shaped = {name: spancast_row[name] for name, _ in bq.OPENROUTER_COLUMNS}
    body = json.dumps({"kind": bq.KIND, "ignoreUnknownValues": False,
                       "rows": [{"insertId": rec.id, "json": shaped}]}).encode()
    assert contract.decode(body, "application/json", contract.OPENROUTER_DDL) == [rec.id]
    with pytest.raises(ValueError, match="Missing required field: generation_id"):
        contract.decode(body, "application/json")


def test_a_table_made_from_openrouters_ddl_takes_the_rows_with_schema_openrouter():
    recs = [full_record(i) for i in range(3)]
    with SinkThread(openrouter_fake()) as sink:
        probe = Broadcaster([contract.config(sink.base_url, schema="openrouter")]).test_connection("bigquery")
        assert probe.ok and probe.status == 200 and sink.problems == [] and sink.generation_ids() == []
        d = burst(sink, recs, schema="openrouter")
        assert d["delivered"] == 3 and d["dropped"] == {} and sink.problems == []
        rows = inserted_rows(sink)
        ids = sink.generation_ids()
    dest = make_destination(contract.config("https://backend.example", schema="openrouter"))
    assert ids == [r.id for r in recs]  # the insertIds: the generation ids, for BigQuery's deduplication
    assert len(rows) == 3
    for got, rec in zip(rows, recs):
        full = bq.row(rec, dest.resource_attributes, dest.id_salt)
        assert list(got) == [name for name, _ in bq.OPENROUTER_COLUMNS]
        assert got == {name: full[name] for name in got}  # the values of spancast's row, salted ids alike
        assert got["model"] == rec.model and got["timestamp"].endswith("Z") and json.loads(got["input"])


def test_spancasts_default_schema_fails_the_probe_on_openrouters_table_and_says_what_to_set():
    with SinkThread(openrouter_fake()) as sink:
        probe = Broadcaster([contract.config(sink.base_url)]).test_connection("bigquery")
        assert not probe.ok and probe.status == 400 and "schema: openrouter" in probe.hint
        d = burst(sink, [full_record(i) for i in range(3)])
        assert d["delivered"] == 0 and "no such field" in sink.problems[-1][1]
        assert inserted_rows(sink) == []
    # and the other way: rows in OpenRouter's shape lack spancast's REQUIRED generation_id
    with SinkThread(fake()) as sink:
        probe = Broadcaster([contract.config(sink.base_url, schema="openrouter")]).test_connection("bigquery")
        assert not probe.ok and probe.status == 400 and "schema: spancast" in probe.hint
        assert "generation_id" in probe.hint


def test_privacy_mode_sends_no_content_with_schema_openrouter():
    needles = ["PROMPT-80c1", "COMPLETION-a7e2", "REASONING-44d3", "MESSAGE-1b94"]
    recs = [full_record(i, prompt=needles[0], completion=needles[1], reasoning=needles[2],
                        messages=[{"role": "user", "content": needles[3]}]) for i in range(4)]
    with SinkThread(openrouter_fake()) as sink:
        d = burst(sink, recs, schema="openrouter", privacy_mode=True)
    assert d["delivered"] == 4 and sink.problems == []
    for row in inserted_rows(sink):
        assert row["input"] is None and row["output"] is None and row["prompt_tokens"] == "1200"
    for received in sink.received:
        for needle in needles:
            assert needle.encode() not in received.raw


def test_the_probe_fails_when_bigquery_says_the_table_lacks_a_column():
    # BigQuery answers a row with unknown fields 200 with insertErrors: the probe column is expected there,
    # any other means rows would not go in
    said = answer({"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": [{"index": 0, "errors": [
        {"reason": "invalid", "location": bq.PROBE_COLUMN, "message": f"no such field: {bq.PROBE_COLUMN}."},
        {"reason": "invalid", "location": "generation_id", "message": "no such field: generation_id."}]}]})
    lenient = Expect(path=contract.PATH, method="POST", auth=contract.check_auth, decode=lambda body, ctype: [])
    with SinkThread(OtlpSink(lenient, default=said)) as sink:
        result = Broadcaster([contract.config(sink.base_url)]).test_connection("bigquery")
        assert not result.ok and result.status == 200 and "(generation_id)" in result.hint
        assert "schema: openrouter" in result.hint
        result = Broadcaster([contract.config(sink.base_url, schema="openrouter")]).test_connection("bigquery")
        assert not result.ok and "schema: spancast" in result.hint
    only_probe = answer({"insertErrors": [{"index": 0, "errors": [
        {"reason": "invalid", "location": bq.PROBE_COLUMN, "message": "no such field."}]}]})
    odd = answer({"insertErrors": [{"index": 0, "errors": [
        {"reason": "invalid", "location": "<script>x</script>", "message": "?"}]}]})
    for reply in (only_probe, Reply("status", 200, {}, b'{"insertErrors": [{"ind')):  # cut short: not judged
        with SinkThread(OtlpSink(lenient, default=reply)) as sink:
            assert Broadcaster([contract.config(sink.base_url)]).test_connection("bigquery").ok
    with SinkThread(OtlpSink(lenient, default=odd)) as sink:  # refused, but a name that is no column is not repeated
        result = Broadcaster([contract.config(sink.base_url)]).test_connection("bigquery")
        assert not result.ok and "script" not in result.hint
