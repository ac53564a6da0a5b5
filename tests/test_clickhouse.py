"""The clickhouse destination: settings, rows, DDL and answers; then end to end against a real ClickHouse server.

The server tests start ``clickhouse-server`` themselves (session-scoped: a config with a free HTTP
port in a temporary directory, readiness by polling ``/ping``, stopped at the end) and read the rows
back over HTTP. Debian bookworm's ``clickhouse-server`` package is 18.16, the oldest release the
destination supports; a newer binary on PATH is used the same way. Without a binary these tests
fail and say how to install it (.ci/run installs it): they are never skipped.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import orjson
import pytest

from conftest import attempts_record, full_record, require_server
from spancast import Broadcaster, ConfigError, Generation
from spancast.codec import encode_traces
from spancast.destinations import make_destination
from spancast.destinations import clickhouse as ch
from spancast.errors import EncodeError
from spancast.pipeline.retry import Action, RetryPolicy

FAST = RetryPolicy(max_attempts=4, max_retry_elapsed_s=10, initial_backoff_s=0.01, max_backoff_s=0.05)
WRITER, WRITER_PW = "spancast_writer", "writer-pw-7c1e0b"
READER, READER_PW = "spancast_reader", "reader-pw-93ad2f"
DB = "spancast_test"


def config(**extra) -> dict:
    return {"type": "clickhouse", "host": "https://ch.example:8443", "username": WRITER, "password": WRITER_PW, **extra}


# ================================================================ without a server


def test_defaults_are_openrouters_and_camel_case_is_accepted():
    d = make_destination({"type": "clickhouse", "host": "http://127.0.0.1:8123", "authStyle": "headers",
                          "timeoutS": 3})
    s = d.settings
    assert (s.database, s.table, s.username, s.password, s.auth_style) == ("default", "OPENROUTER_TRACES", "default",
                                                                          None, "headers")
    req = d.request(b"{}\n")
    assert req.method == "POST" and req.headers["X-ClickHouse-User"] == "default" and req.headers["X-ClickHouse-Key"] == ""
    assert "Authorization" not in req.headers and req.headers["Content-Type"] == "application/x-ndjson"


def test_the_insert_is_in_the_query_string_with_quoted_names():
    d = make_destination(config(host="https://ch.example:8443/", database="analytics", table="llm_rows"))
    parts = urllib.parse.urlsplit(d.request(b"").url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "ch.example:8443", "/")
    assert urllib.parse.parse_qs(parts.query) == {"query": ["INSERT INTO `analytics`.`llm_rows` FORMAT JSONEachRow"]}
    probe, also_ok = d.test_request()
    sql = urllib.parse.parse_qs(urllib.parse.urlsplit(probe.url).query)["query"][0]
    assert sql == f"INSERT INTO `analytics`.`llm_rows` ({', '.join(n for n, _ in ch.COLUMNS)}) FORMAT JSONEachRow"
    assert probe.body == b"" and also_ok == frozenset() and probe.headers == d.request(b"").headers
    # a path prefix (a proxy) is kept
    assert make_destination(config(host="https://proxy.example/clickhouse")).url.startswith(
        "https://proxy.example/clickhouse/?query=")


def test_basic_auth_is_the_default():
    d = make_destination(config())
    value = d.request(b"").headers["Authorization"]
    assert value == "Basic " + base64.b64encode(f"{WRITER}:{WRITER_PW}".encode()).decode()
    assert not any(k.lower().startswith("x-clickhouse") for k in d.request(b"").headers)


@pytest.mark.parametrize(
    "extra, path, reason",
    [
        ({"host": "ch.example:8123"}, "d.host", "http(s) URL"),
        ({"host": "http://ch.example:8123/?database=x"}, "d.host", "query string"),
        ({"host": f"https://{WRITER}:{WRITER_PW}@ch.example:8443"}, "d.host", "credentials"),
        ({"table": "t; DROP TABLE x"}, "d.table", "plain name"),
        ({"table": "1abc"}, "d.table", "plain name"),
        ({"database": "my-db"}, "d.database", "plain name"),
        ({"database": "a`b"}, "d.database", "plain name"),
        ({"table": "x" * 129}, "d.table", "plain name"),
        ({"username": "a:b"}, "d.username", "':'"),
        ({"username": ""}, "d.username", "must not be empty"),
        ({"password": "pw\r\nX-Evil: 1"}, "d.password", "control characters"),
        ({"authStyle": "bearer"}, "d.authStyle", "invalid enum value"),
        ({"headers": {"authorization": "Basic eA=="}}, "d.headers.authorization", "username and password"),
        ({"headers": {"X-ClickHouse-Key": "k"}}, "d.headers.X-ClickHouse-Key", "username and password"),
        ({"bogusKey": 1}, "d.bogusKey", "unknown key"),
    ],
)
def test_bad_settings_name_the_key(extra, path, reason):
    with pytest.raises(ConfigError) as info:
        make_destination(config(**extra), "d")
    assert info.value.path == path and reason in info.value.reason, info.value
    assert WRITER_PW not in str(info.value) and "pw\r\n" not in str(info.value)


def test_a_missing_host_is_named_as_openrouter_writes_it():
    with pytest.raises(ConfigError) as info:
        make_destination({"type": "clickhouse"}, "d")
    assert info.value.path == "d.host"


def test_secrets_never_show_in_reprs():
    for style in ("basic", "headers"):
        d = make_destination(config(authStyle=style, headers={"X-Trace-Tag": "spancast"}))
        req = d.request(b"row")
        basic = base64.b64encode(f"{WRITER}:{WRITER_PW}".encode()).decode()
        for text in (repr(d), repr(d.settings), repr(req), str(req), repr(d.test_request())):
            assert WRITER_PW not in text and basic not in text


def test_the_ddl_uses_only_what_1816_and_current_releases_share():
    ddl = ch.clickhouse_ddl("analytics", "llm_rows")
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS `analytics`.`llm_rows`\n(")
    for banned in ("DateTime64", "JSON", "LowCardinality", "CODEC", "Nullable", "SETTINGS"):
        assert banned not in ddl.replace("JSONEachRow", "")
    assert "ENGINE = ReplacingMergeTree()" in ddl and "PARTITION BY toYYYYMM(TIMESTAMP)" in ddl
    assert "ORDER BY (TIMESTAMP, GENERATION_ID)" in ddl
    declared = re.findall(r"^    (\w+)\s+(\w+),?$", ddl, re.M)
    assert declared == list(ch.COLUMNS)
    assert ch.clickhouse_ddl().startswith("CREATE TABLE IF NOT EXISTS `default`.`OPENROUTER_TRACES`")
    with pytest.raises(ConfigError):
        ch.clickhouse_ddl("default", "x`; DROP TABLE y")
    # the module docstring documents every column with its type
    for name, kind in ch.COLUMNS:
        assert re.search(rf"^    {name}\s+{kind}\s", ch.__doc__, re.M), name


def test_rows_follow_the_columns_and_the_otlp_ids():
    rec = full_record(3)
    row = ch.row(rec)
    assert list(row) == [name for name, _ in ch.COLUMNS]
    line = ch.render(rec)
    assert b"\n" not in line and orjson.loads(line) == row
    # SPAN_ID is the id the OTLP destinations give the generation span
    doc = json.loads(encode_traces([rec], format="json"))
    spans = [s for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    gen = next(s for s in spans if any(a["key"] == "gen_ai.response.id" for a in s["attributes"]))
    assert row["SPAN_ID"] == gen["spanId"] and row["TRACE_ID"] == gen["traceId"] == rec.trace["trace_id"]
    # no trace id given: the one the OTLP encoders derive
    bare = Generation(id="gen-bare", model="m", start_time_ns=5_000_000_000, end_time_ns=5_000_000_000)
    doc = json.loads(encode_traces([bare], format="json"))
    row = ch.row(bare)
    assert row["TRACE_ID"] == doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
    assert (row["TIMESTAMP"], row["DURATION_MS"], row["PROMPT_TOKENS"], row["TOTAL_COST"]) == (5, 0.0, 0, 0.0)
    assert (row["INPUT"], row["OUTPUT"], row["METADATA"], row["MODEL_PARAMETERS"], row["PROVIDER_ATTEMPTS"]) == ("",) * 5
    assert (row["STATUS"], row["LEVEL"], row["SPAN_TYPE"], row["RESPONSE_MODEL"]) == ("ok", "DEFAULT", "GENERATION", "m")


def test_attributes_are_the_codecs_generation_span_attributes():
    from spancast.codec import _py
    from spancast.codec.values import plain_value

    records = [*_records(), full_record(2, trace={"trace_id": 12345, "parent_span_id": "00f067aa0ba902b7", "n": None,
                                                  "big": 2**64, "f": 1e-7, "l": [1, "a"], "b": False},
                                        model_parameters={"temperature": 1, "stop": None, "seed": -(2**63)})]
    for rec in records:
        spans = _py.spans_of(ch._PLAN, rec)
        gen = next(s for s in spans if s.kind == _py.KIND_CLIENT)
        want = {key: plain_value(value) for key, value in gen.attrs}
        row = ch.row(rec)
        assert json.loads(row["ATTRIBUTES"]) == json.loads(orjson.dumps(want)), rec.id
        assert row["SPAN_ID"] == gen.span_id.hex()
        if not (rec.trace or {}).get("trace_id"):
            assert row["TRACE_ID"] == gen.trace_id.hex()


@pytest.mark.parametrize("field, value", [("user", 42), ("prompt_tokens", -1), ("total_cost", "1.0"), ("id", None),
                                          ("trace", ["not", "a", "mapping"]), ("start_time_ns", 1.5)])
def test_a_value_of_the_wrong_type_fails_naming_the_field(field, value):
    rec = full_record(1)
    setattr(rec, field, value)  # records built in Python are not type-checked by their constructor
    with pytest.raises(EncodeError) as info:
        ch.render(rec)
    assert info.value.field == field


def test_awkward_values_render_or_fail_naming_the_field():
    rec = full_record(1, total_cost=math.nan, input_cost=math.inf, trace={"big": 2**70, "trace_name": "x"})
    row = ch.row(rec)
    assert (row["TOTAL_COST"], row["INPUT_COST"]) == (0.0, 0.0)  # non-finite: the column's zero, not null
    assert json.loads(row["METADATA"]) == {"big": 2**70, "trace_name": "x"}
    late = full_record(1, start_time_ns=2**32 * 10**9, end_time_ns=2**32 * 10**9)
    with pytest.raises(EncodeError) as info:
        ch.render(late)
    assert info.value.field == "start_time_ns"
    with pytest.raises(EncodeError) as info:
        ch.render(full_record(1, model_parameters={1: "non-string key"}))
    assert info.value.field == "model_parameters"


def test_privacy_mode_leaves_no_content_in_any_column():
    d = make_destination(config(privacyMode=True))
    needle = "SECRET-needle-42"
    rec = full_record(1, prompt=needle, completion=needle, reasoning=needle,
                      messages=[{"role": "user", "content": needle}], tool_calls=[{"function": {"arguments": needle}}])
    records, _, _ = d.route.select([rec])
    encoder = d.new_encoder()
    encoder.extend(records)
    body = encoder.finish()
    assert needle.encode() not in body
    row = json.loads(body)
    assert row["INPUT"] == row["OUTPUT"] == "" and "gen_ai.prompt" not in row["ATTRIBUTES"]
    # without privacy mode the content is in INPUT / OUTPUT only, never repeated in ATTRIBUTES
    row = ch.row(rec)
    assert needle in row["INPUT"] and needle in row["OUTPUT"] and needle not in row["ATTRIBUTES"]


def test_a_batch_is_one_row_per_line():
    d = make_destination(config())
    encoder = d.new_encoder()
    encoder.extend([full_record(i) for i in range(3)])
    size = encoder.size
    body = encoder.finish()
    assert size == len(body)
    lines = body.split(b"\n")
    assert lines[-1] == b"" and [json.loads(x)["GENERATION_ID"] for x in lines[:-1]] == [full_record(i).id for i in range(3)]


@pytest.mark.parametrize(
    "status, headers, body, action, overload",
    [
        (200, {}, b"", Action.DELIVERED, False),
        # 18.16: the code is in the body only
        (401, {}, b"Code: 193, e.displayText() = DB::Exception: Wrong password for user w", Action.PERMANENT, False),
        (404, {}, b"Code: 60, e.displayText() = DB::Exception: Table a.b doesn't exist.", Action.PERMANENT, False),
        (500, {}, b"Code: 164, e.displayText() = DB::Exception: Cannot insert into table in readonly mode",
         Action.PERMANENT, False),
        (500, {}, b"Code: 202, e.displayText() = DB::Exception: Too many simultaneous queries. Maximum: 100",
         Action.RETRY, True),
        (500, {}, b"Code: 252, e.displayText() = DB::Exception: Too many parts (300).", Action.RETRY, True),
        (500, {}, b"Code: 210, e.displayText() = DB::NetException: Connection refused", Action.RETRY, False),
        # current releases: the code in a header too
        (403, {"X-ClickHouse-Exception-Code": "516"}, b"Code: 516. DB::Exception: default: Authentication failed",
         Action.PERMANENT, False),
        (408, {"X-ClickHouse-Exception-Code": "159"}, b"Code: 159. DB::Exception: Timeout exceeded", Action.RETRY, True),
        (500, {"x-clickhouse-exception-code": "241"}, b"Code: 241. DB::Exception: Memory limit exceeded",
         Action.RETRY, True),
        (400, {"X-ClickHouse-Exception-Code": "117"}, b"Code: 117. DB::Exception: Unknown field found", Action.PERMANENT,
         False),
        (503, {"X-ClickHouse-Exception-Code": "209"}, b"Code: 209. DB::NetException: Timeout", Action.RETRY, True),
        # no code: a proxy or load balancer answered, judged by the status
        (503, {}, b"", Action.RETRY, True),
        (502, {}, b"<html>Bad Gateway</html>", Action.RETRY, False),
        (502, {}, b"<html>Error Code: 502, upstream gone</html>", Action.RETRY, False),  # not ClickHouse's text
        (408, {}, b"", Action.RETRY, False),
        (413, {}, b"", Action.SPLIT, False),
        (500, {}, b"internal error", Action.PERMANENT, False),
        (400, {}, b"bad request", Action.PERMANENT, False),
    ],
)
def test_answers_are_classified_by_the_clickhouse_code(status, headers, body, action, overload):
    decision = make_destination(config()).classify(status, headers, body)
    assert (decision.action, decision.overload) == (action, overload), decision
    code = ch.exception_code(headers, body)
    if code is not None and action is not Action.DELIVERED:
        assert f"Code {code}" in decision.reason


def test_retry_after_is_honoured_with_or_without_a_code():
    d = make_destination(config())
    assert d.classify(429, {"Retry-After": "2"}, b"").retry_after_s == 2
    assert d.classify(500, {"Retry-After": "3"}, b"Code: 202, too many").retry_after_s == 3


# ================================================================ a real server


def _binary() -> list[str] | None:
    for name in ("clickhouse-server",):
        found = shutil.which(name) or next(
            (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None)
        if found:
            return [found]
    single = shutil.which("clickhouse")  # the one-binary builds: `clickhouse server`
    return [single, "server"] if single else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG_XML = """<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/server.err.log</errorlog>
        <console>0</console></logger>
    <http_port>{port}</http_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{dir}/data/</path>
    <tmp_path>{dir}/tmp/</tmp_path>
    <user_files_path>{dir}/user_files/</user_files_path>
    <format_schema_path>{dir}/format_schemas/</format_schema_path>
    <users_config>{dir}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>67108864</mark_cache_size>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
"""

USER = """        <{name}>
            <password>{password}</password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>{profile}</profile>
            <quota>default</quota>
        </{name}>
"""

USERS_XML = """<?xml version="1.0"?>
<yandex>
    <profiles>
        <default></default>
        <readonly><readonly>1</readonly></readonly>
    </profiles>
    <users>
{users}    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"""


class Server:
    """A clickhouse-server of the tests' own: HTTP on a free port, data in a temporary directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self._tables = 0

    def start(self, command: list[str], timeout_s: float = 60.0) -> None:
        users = "".join(USER.format(name=n, password=p, profile=prof) for n, p, prof in (
            ("default", "", "default"), (WRITER, WRITER_PW, "default"), (READER, READER_PW, "readonly")))
        (self.dir / "users.xml").write_text(USERS_XML.format(users=users))
        (self.dir / "config.xml").write_text(CONFIG_XML.format(dir=self.dir, port=self.port))
        self.log = open(self.dir / "stdout.log", "wb")
        self.proc = subprocess.Popen([*command, f"--config-file={self.dir / 'config.xml'}"], cwd=self.dir,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while True:  # ready when /ping answers; poll, no fixed sleep
            if self.proc.poll() is not None:
                raise RuntimeError(f"clickhouse-server exited with {self.proc.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=1) as resp:
                    if resp.read().strip() == b"Ok.":
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"clickhouse-server did not answer /ping within {timeout_s:g}s: {self.tail()}")
            time.sleep(0.05)

    def tail(self) -> str:
        texts = []
        for name in ("stdout.log", "server.err.log"):
            path = self.dir / name
            if path.exists():
                texts.append(path.read_text(errors="replace")[-2000:])
        return "\n".join(texts)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if getattr(self, "log", None):
            self.log.close()

    def query(self, sql: str, user: str = "default", password: str = "") -> str:
        """Run one statement as user (the admin by default); the answer's text, RuntimeError on an error."""
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        req = urllib.request.Request(self.url + "/", data=sql.encode(), headers={"Authorization": "Basic " + auth})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.read().decode()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"HTTP {exc.code}: {exc.read().decode(errors='replace')}") from None

    def new_table(self) -> str:
        self._tables += 1
        name = f"traces_{self._tables}"
        self.query(ch.clickhouse_ddl(DB, name))
        return name

    def rows(self, table: str) -> list[dict]:
        text = self.query(f"SELECT *, toUInt32(TIMESTAMP) AS UNIX_SECONDS FROM {DB}.{table} "
                          "ORDER BY GENERATION_ID FORMAT JSONEachRow")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def destination(self, table: str, **extra) -> dict:
        return {"type": "clickhouse", "host": self.url, "database": DB, "table": table, "username": WRITER,
                "password": WRITER_PW, **extra}


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    command = _binary()
    require_server("clickhouse-server", command and command[0])
    srv = Server(tmp_path_factory.mktemp("clickhouse"))
    try:
        srv.start(command)
        srv.query(f"CREATE DATABASE IF NOT EXISTS {DB}")
        yield srv
    finally:
        srv.stop()


def _deliver(server, table, records, _batch=64, **extra):
    with Broadcaster([server.destination(table, **extra)], max_batch_records=_batch, retry=FAST) as b:
        for r in records:
            assert b.emit(r)
        assert b.flush(15)
        stats = b.stats()["destinations"]["clickhouse"]
    return stats


def test_the_ddl_creates_the_table_on_this_server(server):
    table = server.new_table()
    got = server.query(f"SELECT name, type FROM system.columns WHERE database = '{DB}' AND table = '{table}' "
                       "FORMAT JSONEachRow")
    assert [tuple(json.loads(x).values()) for x in got.splitlines()] == list(ch.COLUMNS)
    engine = server.query(f"SELECT engine FROM system.tables WHERE database = '{DB}' AND name = '{table}'")
    assert engine.strip() == "ReplacingMergeTree"
    server.query(ch.clickhouse_ddl(DB, table))  # IF NOT EXISTS: running it again is harmless


def _assert_row_matches(row: dict, rec: Generation) -> None:
    """Every column of a row read back from the server against the record it came from."""
    num = int  # 18.16 writes UInt64 as JSON strings
    assert row["GENERATION_ID"] == rec.id
    trace = rec.trace or {}
    if "trace_id" in trace:
        assert row["TRACE_ID"] == str(trace["trace_id"])
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", row["TRACE_ID"])
    assert re.fullmatch(r"[0-9a-f]{16}", row["SPAN_ID"])
    assert row["PARENT_SPAN_ID"] == str(trace.get("parent_span_id", ""))
    assert row["UNIX_SECONDS"] == rec.start_time_ns // 10**9
    assert num(row["START_TIME_NS"]) == rec.start_time_ns and num(row["END_TIME_NS"]) == rec.end_time_ns
    assert row["DURATION_MS"] == pytest.approx((rec.end_time_ns - rec.start_time_ns) / 1e6)
    assert row["TIME_TO_FIRST_TOKEN_MS"] == (rec.time_to_first_token_ms or 0)
    assert (row["USER_ID"], row["SESSION_ID"]) == (rec.user or "", rec.session_id or "")
    assert (row["MODEL"], row["RESPONSE_MODEL"]) == (rec.model, rec.response_model or rec.model)
    assert (row["PROVIDER_NAME"], row["OPERATION"], row["API_KEY_NAME"]) == (rec.provider or "", rec.operation,
                                                                             rec.api_key_name or "")
    assert (row["STATUS"], row["LEVEL"], row["SPAN_TYPE"]) == (rec.status, "ERROR" if rec.status == "error" else "DEFAULT",
                                                               "GENERATION")
    assert (row["FINISH_REASON"], row["NATIVE_FINISH_REASON"]) == (rec.finish_reason or "", rec.native_finish_reason or "")
    assert (row["ERROR_TYPE"], row["ERROR_MESSAGE"]) == (rec.error_type or "", rec.error_message or "")
    assert (row["STREAMED"], row["CANCELLED"]) == (int(bool(rec.streamed)), int(bool(rec.cancelled)))
    for column, value in (("PROMPT_TOKENS", rec.prompt_tokens), ("COMPLETION_TOKENS", rec.completion_tokens),
                          ("TOTAL_TOKENS", rec.total_tokens), ("CACHED_TOKENS", rec.cached_tokens),
                          ("CACHE_WRITE_TOKENS", rec.cache_write_tokens), ("REASONING_TOKENS", rec.reasoning_tokens)):
        assert num(row[column]) == (value or 0), column
    for column, value in (("INPUT_COST", rec.input_cost), ("OUTPUT_COST", rec.output_cost),
                          ("TOTAL_COST", rec.total_cost)):
        assert row[column] == (value or 0.0), column
    assert json.loads(row["METADATA"] or "null") == rec.trace
    assert json.loads(row["MODEL_PARAMETERS"] or "null") == rec.model_parameters
    inputs = {k: v for k, v in (("messages", rec.messages), ("prompt", rec.prompt)) if v is not None}
    assert json.loads(row["INPUT"] or "{}") == inputs
    outputs = {k: v for k, v in (("completion", rec.completion), ("reasoning", rec.reasoning),
                                 ("tool_calls", rec.tool_calls)) if v is not None}
    assert json.loads(row["OUTPUT"] or "{}") == outputs
    attempts = [{k: v for k, v in (("provider", a.provider), ("status", a.status), ("latency_ms", a.latency_ms),
                                   ("error", a.error)) if v is not None} for a in rec.provider_attempts or ()]
    assert json.loads(row["PROVIDER_ATTEMPTS"] or "[]") == attempts
    attributes = json.loads(row["ATTRIBUTES"])
    assert attributes["gen_ai.request.model"] == rec.model and attributes["gen_ai.response.id"] == rec.id
    assert attributes.get("user.id") == rec.user and attributes.get("session.id") == rec.session_id


def _records() -> list[Generation]:
    """Full chat records, an error with provider attempts and non-hex ids, a bare one, a cancelled one,
    and text the JSON escaping must carry (control characters, quotes, astral-plane characters)."""
    odd = 'tab\there "quoted" back\\slash \x01 \u2028 ümlaut 🚀 𝄞'
    return [
        *(full_record(i) for i in range(4)),
        attempts_record(),
        Generation(id="gen-bare", model="meta/llama", start_time_ns=1_700_000_000_123_456_789,
                   end_time_ns=1_700_000_000_123_456_789),
        full_record(20, id="gen-cancelled", cancelled=True, finish_reason=None, total_cost=0.0, completion=None,
                    reasoning="thinking...", tool_calls=[{"id": "c1", "function": {"name": "f", "arguments": "{}"}}]),
        full_record(21, id="gen-odd", user=odd, prompt=odd, messages=None, trace={"trace_id": odd, "k": odd}),
    ]


@pytest.mark.parametrize("auth_style, compression", [("basic", "none"), ("headers", "gzip")])
def test_rows_arrive_field_by_field(server, auth_style, compression):
    table = server.new_table()
    records = _records()
    stats = _deliver(server, table, records, authStyle=auth_style, compression=compression)
    assert (stats["delivered"], stats["dropped"], stats["retried"]) == (len(records), {}, 0), stats
    rows = {r["GENERATION_ID"]: r for r in server.rows(table)}
    assert sorted(rows) == sorted(r.id for r in records)
    for rec in records:
        _assert_row_matches(rows[rec.id], rec)


def test_many_rows_go_in_few_inserts(server):
    table = server.new_table()
    records = [full_record(i, id=f"gen-batch-{i:04d}") for i in range(300)]
    stats = _deliver(server, table, records, _batch=100)
    assert stats["delivered"] == 300 and sum(stats["batches"].values()) == 3, stats
    assert server.query(f"SELECT count(), uniqExact(GENERATION_ID) FROM {DB}.{table}").split() == ["300", "300"]


def test_redelivered_rows_collapse_when_parts_merge(server):
    table = server.new_table()
    records = [full_record(i) for i in range(5)]
    _deliver(server, table, records)
    _deliver(server, table, records)  # at-least-once: the same batch again
    # a background merge may already have folded some: between 5 and 10 rows before OPTIMIZE
    assert 5 <= int(server.query(f"SELECT count() FROM {DB}.{table}").strip()) <= 10
    assert server.query(f"SELECT count() FROM {DB}.{table} FINAL").strip() == "5"
    server.query(f"OPTIMIZE TABLE {DB}.{table} FINAL")
    assert server.query(f"SELECT count() FROM {DB}.{table}").strip() == "5"


def test_privacy_mode_rows_carry_no_content(server):
    table = server.new_table()
    needles = ["PROMPT-7f3a", "COMPLETION-91bc", "REASONING-55de", "MESSAGE-c0ff", "TOOL-0a9e"]
    records = [full_record(i, prompt=needles[0], completion=needles[1], reasoning=needles[2],
                           messages=[{"role": "user", "content": needles[3]}],
                           tool_calls=[{"function": {"name": "f", "arguments": needles[4]}}]) for i in range(6)]
    stats = _deliver(server, table, records, privacyMode=True)
    assert stats["delivered"] == 6
    text = server.query(f"SELECT * FROM {DB}.{table} FORMAT JSONEachRow")
    assert all(needle not in text for needle in needles)
    for row in server.rows(table):
        assert row["INPUT"] == row["OUTPUT"] == ""
        assert row["USER_ID"] == "user-42" and json.loads(row["METADATA"])["customer_tier"] == "gold"  # not content


def test_a_wrong_password_is_permanent_and_counted(server, caplog):
    table = server.new_table()
    stats = _deliver(server, table, [full_record(i) for i in range(5)], password="not-the-password")
    assert stats["dropped"] == {"permanent_http_error": 5} and stats["retried"] == 0, stats
    assert re.search(r"Code: (193|516)", stats["last_error"]), stats["last_error"]
    assert "not-the-password" not in stats["last_error"] + caplog.text
    assert server.query(f"SELECT count() FROM {DB}.{table}").strip() == "0"


def test_a_missing_table_is_permanent_and_counted(server):
    stats = _deliver(server, "no_such_table", [full_record(1)])
    assert stats["dropped"] == {"permanent_http_error": 1} and "Code: 60" in stats["last_error"], stats


def test_connection_passes_with_the_right_credentials_and_fails_with_a_hint(server):
    table = server.new_table()

    def check(**extra):
        mapping = {**server.destination(table), **extra}
        return Broadcaster([mapping]).test_connection("clickhouse", timeout_s=10)

    good = check()
    assert good.ok and good.status == 200, good
    assert check(authStyle="headers").ok
    assert server.query(f"SELECT count() FROM {DB}.{table}").strip() == "0"  # the probe inserted nothing

    wrong = check(password="wrong-pw")
    assert not wrong.ok and wrong.status in (401, 403) and "credentials" in wrong.hint, wrong
    assert re.search(r"Code: (193|516)", wrong.excerpt) and "wrong-pw" not in repr(wrong)
    stranger = check(username="nobody")
    assert not stranger.ok and stranger.status in (401, 403) and "credentials" in stranger.hint, stranger

    missing = check(table="no_such_table")
    assert not missing.ok and missing.status == 404 and "Code: 60" in missing.excerpt and "clickhouse_ddl" in missing.hint, missing
    nodb = check(database="no_such_db")
    assert not nodb.ok and nodb.status == 404 and "Code: 81" in nodb.excerpt, nodb

    reader = check(username=READER, password=READER_PW)  # read-only credentials fail up front
    assert not reader.ok and re.search(r"Code: (164|497)", reader.excerpt) and "may not insert" in reader.hint, reader

    server.query(f"CREATE TABLE {DB}.too_narrow (GENERATION_ID String, TIMESTAMP DateTime) "
                 "ENGINE = MergeTree() PARTITION BY toYYYYMM(TIMESTAMP) ORDER BY GENERATION_ID")
    narrow = check(table="too_narrow")  # a table without spancast's columns: Code 16 (NO_SUCH_COLUMN_IN_TABLE)
    assert not narrow.ok and "Code: 16" in narrow.excerpt, narrow
