"""The snowflake destination: settings, the statement encoder, rows read back from the bindings, answers, and
the 202 flow end to end through a Broadcaster against a local fake of the SQL API.

There is no Snowflake server here. The fake (FakeSnowflake below) checks what the SQL API checks, with the
rules of tests/contract/snowflake.py (path, Bearer PAT and its token-type header, JSON body of the
statement request's shape, one INSERT into the configured table, a binding per placeholder), keeps the
rows it "inserted", answers 200 / 202 (then the status URL) / 422 as scripted, and dedupes by requestId
when retry=true comes with one it has executed, as Snowflake does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import deque
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web

from conftest import attempts_record, full_record, load_contract
from contract import snowflake as contract
from sinkthread import SinkThread
from spancast import Broadcaster, ConfigError, Generation
from spancast.destinations import clickhouse as ch
from spancast.destinations import make_destination
from spancast.destinations import snowflake as sf
from spancast.errors import EncodeError
from spancast.pipeline.retry import Action, RetryPolicy

FAST = RetryPolicy(max_attempts=5, max_retry_elapsed_s=10, initial_backoff_s=0.01, max_backoff_s=0.05,
                   max_poll_interval_s=0.05)
TOKEN = contract.TOKEN
NAMES = [name for name, _ in sf.COLUMNS]


def config(**extra) -> dict:
    return {"type": "snowflake", "account": "xy12345.us-east-1", "token": TOKEN, **extra}


def body_of(d, recs) -> dict:
    enc = d.new_encoder()
    enc.extend(recs)
    return json.loads(enc.finish())


def rows_of(doc: dict) -> list[dict[str, str]]:
    """The rows a statement request binds, column name (as the statement names them) -> bound text."""
    statement = doc["statement"]
    names = statement[statement.index("(") + 1: statement.index(")")].split(", ")
    bindings = doc.get("bindings", {})
    n = len(bindings) // len(names)
    return [{name: bindings[str(r * len(names) + c + 1)]["value"] for c, name in enumerate(names)} for r in range(n)]


# ---------------------------------------------------------------- what Snowflake does with a row


CONTRACT = load_contract("snowflake")  # its SELECT-list splitter


def _select_list(statement: str) -> list[str]:
    """The SELECT list's expressions (split at top-level commas)."""
    return CONTRACT.split_select(statement[statement.index(" SELECT ") + 8: statement.index(" FROM (VALUES ")])


def _store(expression: str, kind: str, column: int, text: str):
    """What Snowflake stores from one TEXT binding through its SELECT expression, for the DDL type: each
    expression must read its own VALUES column and cast it to the column's type."""
    c = f"column{column}"
    if kind == "VARCHAR":
        assert expression == c
        return text
    if kind == "VARIANT":
        assert expression == f"PARSE_JSON(NULLIF({c}, ''))"
        return None if text == "" else json.loads(text)
    if kind == "TIMESTAMP_NTZ(9)":
        assert expression == f"TO_TIMESTAMP_NTZ({c}::NUMBER(38,0), 9)"
        return ("ns", int(text))
    assert expression == f"{c}::{kind}", (expression, kind)
    if kind == "NUMBER(38,0)":
        assert re.fullmatch(r"-?\d+", text)
        return int(text)
    if kind == "FLOAT":
        return float(text)
    if kind == "BOOLEAN":
        return {"1": True, "0": False, "true": True, "false": False}[text]
    raise AssertionError(kind)


def stored(doc: dict) -> list[dict]:
    exprs = _select_list(doc["statement"])
    assert len(exprs) == len(sf.COLUMNS)
    return [{name: _store(exprs[i], kind, i + 1, row[name]) for i, (name, kind) in enumerate(sf.COLUMNS)}
            for row in rows_of(doc)]


# ================================================================ settings


def test_defaults_are_openrouters_and_camel_case_is_accepted():
    d = make_destination({"type": "snowflake", "account": "eac52885.us-east-1", "token": TOKEN,
                          "statementTimeoutS": 30, "timeoutS": 3})
    s = d.settings
    assert (s.database, s.schema, s.warehouse, s.table, s.role) == ("SNOWFLAKE_LEARNING_DB", "PUBLIC", "COMPUTE_WH",
                                                                   "OPENROUTER_TRACES", None)
    req = d.request(b"{}")
    parts = urlsplit(req.url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "eac52885.us-east-1.snowflakecomputing.com",
                                                         "/api/v2/statements")
    query = parse_qs(parts.query)
    assert query["retry"] == ["true"] and re.fullmatch(r"[0-9a-f-]{36}", query["requestId"][0])
    assert req.headers == {"Authorization": f"Bearer {TOKEN}", "X-Snowflake-Authorization-Token-Type":
                           "PROGRAMMATIC_ACCESS_TOKEN", "Accept": "application/json", "User-Agent": "spancast",
                           "Content-Type": "application/json"}
    doc = body_of(d, [full_record()])
    assert {k: doc[k] for k in ("timeout", "database", "schema", "warehouse")} == {
        "timeout": 30, "database": "SNOWFLAKE_LEARNING_DB", "schema": "PUBLIC", "warehouse": "COMPUTE_WH"}
    assert "role" not in doc  # the user's default role
    assert doc["statement"].startswith(
        'INSERT INTO "SNOWFLAKE_LEARNING_DB"."PUBLIC"."OPENROUTER_TRACES" (GENERATION_ID,')


def test_base_url_overrides_the_account_host_and_keeps_a_path_prefix():
    d = make_destination(config(baseUrl="https://proxy.example/snowflake/", role="WRITER"))
    assert d.request(b"").url.startswith("https://proxy.example/snowflake/api/v2/statements?requestId=")
    assert body_of(d, [full_record()])["role"] == "WRITER"


@pytest.mark.parametrize("extra, key", [
    ({"account": "xy12345.us-east-1.snowflakecomputing.com"}, "account"),
    ({"account": "bad account!"}, "account"),
    ({"account": ""}, "account"),
    ({"token": ""}, "token"),
    ({"token": 12345}, "token"),
    ({"database": "my-db"}, "database"),
    ({"schema": "1PUBLIC"}, "schema"),
    ({"table": 'T"; DROP TABLE X; --'}, "table"),
    ({"warehouse": "WH X"}, "warehouse"),
    ({"role": "R;"}, "role"),
    ({"baseUrl": "ftp://proxy.example"}, "baseUrl"),
    ({"baseUrl": "https://proxy.example/?x=1"}, "baseUrl"),
    ({"statementTimeoutS": -1}, "statementTimeoutS"),
    ({"headers": {"Authorization": "Bearer other"}}, "headers.Authorization"),
    ({"tabel": "X"}, "tabel"),
])
def test_bad_settings_name_the_key(extra, key):
    with pytest.raises(ConfigError) as info:
        make_destination(config(**extra), "destinations[2]")
    assert info.value.path == f"destinations[2].{key}", info.value


def test_a_missing_account_or_token_names_the_key():
    for missing in ("account", "token"):
        mapping = config()
        del mapping[missing]
        with pytest.raises(ConfigError) as info:
            make_destination(mapping)
        assert info.value.path == f"destination.{missing}"


def test_secrets_never_show_in_reprs_or_errors():
    shown = []
    d = make_destination(config(baseUrl="https://proxy.example"))
    shown += [repr(d), repr(d.settings), repr(d.request(b"{}")), repr(d.poll_request(d.statements_url + "/h")),
              repr(d.test_request()), repr(d.new_encoder())]
    for bad in ({"token": TOKEN + "\n"}, {"baseUrl": f"https://user:{TOKEN}@proxy.example"}, {"account": "x y"},
                {"headers": {"authorization": TOKEN}}):
        with pytest.raises(ConfigError) as info:
            make_destination(config(**bad))
        shown += [str(info.value), repr(info.value)]
    text = "\n".join(shown)
    assert TOKEN not in text and "'***'" in repr(d.settings)


# ================================================================ the statement encoder


def test_size_is_exactly_the_length_of_the_body_at_every_step():
    d = make_destination(config())
    enc = d.new_encoder()
    assert enc.size == len(d.new_encoder().finish())  # empty too
    for i in range(12):
        added = enc.append(attempts_record() if i % 3 == 0 else full_record(i))
        assert added > 0
        probe = d.new_encoder()
        probe.extend([attempts_record() if k % 3 == 0 else full_record(k) for k in range(i + 1)])
        assert probe.size == enc.size
    size = enc.size
    body = enc.finish()
    assert len(body) == size and enc.records == 0 and enc.size == len(d.new_encoder().finish())
    assert len(rows_of(json.loads(body))) == 12


def test_append_refuses_what_would_not_fit_and_append_many_stops_there():
    d = make_destination(config())
    enc = d.new_encoder()
    first = enc.append(full_record(0))
    assert first == enc.size  # the first record's count includes the framing
    assert enc.append(full_record(1), max_bytes=enc.size + 10) == 0 and enc.records == 1  # refused, nothing added
    assert enc.append(full_record(1), max_bytes=-1) > 0 and enc.records == 2
    enc.reset()
    errors: list = []
    recs = [full_record(i) for i in range(10)]
    nxt, why = enc.append_many(recs, 0, 100, 4 * first, errors)
    assert why == "bytes" and 1 <= nxt < 10 and enc.size <= 4 * first and errors == []
    assert len(rows_of(json.loads(enc.finish()))) == nxt
    nxt, why = enc.append_many(recs, 0, 3, 1 << 40, errors)
    assert (nxt, why) == (3, "records")


def test_a_bad_record_adds_nothing_and_the_batch_goes_on():
    d = make_destination(config())
    enc = d.new_encoder()
    enc.append(full_record(0))
    before = enc.size
    for bad in (full_record(1, model=12), full_record(2, user="\ud800 lone surrogate")):
        with pytest.raises(EncodeError):
            enc.append(bad)
        assert enc.size == before and enc.records == 1
    enc.append(full_record(3))
    doc = json.loads(enc.finish())
    assert [r["GENERATION_ID"] for r in rows_of(doc)] == [full_record(0).id, full_record(3).id]
    assert sorted(doc["bindings"], key=int) == [str(i) for i in range(1, 2 * len(NAMES) + 1)]


def test_the_limits_are_snowflakes():
    cls = type(make_destination(config()))
    assert cls.max_batch_records == 16_384 and cls.max_batch_bytes == 1_000_000


# ================================================================ rows


def test_rows_read_back_field_by_field():
    d = make_destination(contract.config("https://backend.example"))
    recs = [full_record(7), attempts_record(), Generation(id="gen-min", model="m", start_time_ns=5_000_000_123,
                                                          end_time_ns=5_500_000_123)]
    doc = body_of(d, recs)
    assert contract.decode(json.dumps(doc).encode(), "application/json") == [r.id for r in recs]
    full, attempts, minimal = stored(doc)
    rec = recs[0]
    expected = ch.row(rec, d.id_salt)  # the same row as ClickHouse's, column for column
    for name, kind in sf.COLUMNS:
        got = full[name]
        if kind == "VARIANT":
            assert got == (json.loads(expected[name]) if expected[name] else None), name
        elif name == "TIMESTAMP":
            assert got == ("ns", rec.start_time_ns)
        elif kind == "BOOLEAN":
            assert got is bool(expected[name]), name
        else:
            assert got == expected[name], name
    assert full["GENERATION_ID"] == rec.id and full["TRACE_ID"] == rec.trace["trace_id"]
    assert full["INPUT"] == {"messages": rec.messages} and full["OUTPUT"] == {"completion": rec.completion}
    assert full["METADATA"] == rec.trace and full["MODEL_PARAMETERS"] == rec.model_parameters
    assert full["ATTRIBUTES"]["gen_ai.request.model"] == "openai/gpt-4o" and "gen_ai.prompt" not in full["ATTRIBUTES"]
    assert (full["STREAMED"], full["CANCELLED"], full["DURATION_MS"]) == (True, False, 1250.0)
    assert (full["PROMPT_TOKENS"], full["TOTAL_TOKENS"], full["TOTAL_COST"]) == (1200, 1500, 0.0075)
    assert full["PROVIDER_ATTEMPTS"] is None and full["STATUS"] == "ok" and full["LEVEL"] == "DEFAULT"
    assert (attempts["STATUS"], attempts["LEVEL"]) == ("error", "ERROR")
    assert attempts["ERROR_MESSAGE"] == "All providers failed"
    assert [a["provider"] for a in attempts["PROVIDER_ATTEMPTS"]] == ["OpenAI", "Azure", "Together"]
    assert attempts["ATTRIBUTES"]["spancast.original_trace_id"] == "workflow_12345"
    assert minimal["INPUT"] is minimal["OUTPUT"] is minimal["METADATA"] is minimal["MODEL_PARAMETERS"] is None
    assert (minimal["USER_ID"], minimal["PROMPT_TOKENS"], minimal["TIMESTAMP"]) == ("", 0, ("ns", 5_000_000_123))


def test_values_are_bound_never_written_into_the_sql():
    d = make_destination(config())
    evil = full_record(1, user="x'); DROP TABLE T; --", model='m" ?', completion="? ?")
    doc = body_of(d, [evil])
    assert "DROP" not in doc["statement"] and "--" not in doc["statement"]
    assert doc["statement"].count("?") == len(doc["bindings"]) == len(NAMES)
    assert rows_of(doc)[0]["USER_ID"] == evil.user


def test_privacy_mode_leaves_no_content():
    needles = ["PROMPT-51e needle", "COMPLETION-7d0 needle", "REASONING-c3a needle", "MESSAGE-99f needle"]
    rec = full_record(3, prompt=needles[0], completion=needles[1], reasoning=needles[2],
                      messages=[{"role": "user", "content": needles[3]}])
    cfg = config(privacyMode=True)
    shown = Broadcaster([cfg]).preview(rec, "snowflake")
    text = json.dumps(shown, ensure_ascii=False)
    assert shown["sent"] and not any(n.split()[0] in text for n in needles)
    row = rows_of(shown["body"])[0]
    assert row["INPUT"] == row["OUTPUT"] == "" and row["GENERATION_ID"] == rec.id and row["PROMPT_TOKENS"] == "1200"


def test_the_ddl_declares_every_column_with_its_type():
    ddl = sf.snowflake_ddl()
    assert ddl.startswith('CREATE TABLE IF NOT EXISTS "SNOWFLAKE_LEARNING_DB"."PUBLIC"."OPENROUTER_TRACES" (\n')
    declared = re.findall(r"^    (\w+)\s+(\S+?),?$", ddl, re.MULTILINE)
    assert declared == list(sf.COLUMNS)
    assert [n for n, _ in sf.COLUMNS] == [n for n, _ in ch.COLUMNS]  # OpenRouter's names, as ClickHouse's
    assert {n for n, k in sf.COLUMNS if k == "VARIANT"} >= {"ATTRIBUTES", "INPUT", "OUTPUT", "METADATA",
                                                             "MODEL_PARAMETERS"}
    assert sf.snowflake_ddl("DB", "S", "T").startswith('CREATE TABLE IF NOT EXISTS "DB"."S"."T" (')
    with pytest.raises(ConfigError):
        sf.snowflake_ddl(table='T" (x INT); --')


# ================================================================ answers


def test_classify_follows_the_sql_api():
    d = make_destination(config(baseUrl="https://proxy.example/sf"))
    ok = json.dumps({"code": "090001", "sqlState": "00000", "message": "Statement executed successfully.",
                     "statementHandle": "01b2-c3", "stats": {"numRowsInserted": 3}}).encode()
    assert d.classify(200, {}, ok).action is Action.DELIVERED
    assert d.classify(200, {}, b"").action is Action.DELIVERED  # a proxy's empty 200: judged by the status
    bad = json.dumps({"code": "100037", "sqlState": "22018", "message": "bad"}).encode()
    assert d.classify(200, {}, bad).action is Action.PERMANENT
    pending = d.classify(202, {}, b'{"code":"333334","statementHandle":"01b66701-0000-001c-0000-0030000b9152",'
                                  b'"statementStatusUrl":"/api/v2/statements/01b66701-0000-001c-0000-0030000b9152"}')
    assert pending.action is Action.PENDING
    assert pending.poll_url == "https://proxy.example/sf/api/v2/statements/01b66701-0000-001c-0000-0030000b9152"
    for body in (b"", b'{"statementHandle": "../../evil"}', b'{"statementHandle": 5}'):
        assert d.classify(202, {}, body).action is Action.RETRY  # nowhere safe to ask: resubmitted (idempotent)
    for status in (408, 429, 500, 502, 503, 504):
        assert d.classify(status, {}, b"").action is Action.RETRY, status
    assert d.classify(429, {"Retry-After": "3"}, b"").retry_after_s == 3.0
    failed = d.classify(422, {}, b'{"code":"002003","sqlState":"42S02","message":"Table does not exist"}')
    assert failed.action is Action.PERMANENT and "002003" in failed.reason
    for status in (400, 401, 403, 404, 405, 415):
        assert d.classify(status, {}, b"").action is Action.PERMANENT, status
    assert d.classify(413, {}, b"").action is Action.SPLIT


def test_poll_request_is_a_get_with_the_same_auth():
    d = make_destination(config(headers={"X-Team": "obs"}))
    poll = d.poll_request(d.statements_url + "/abc")
    post = d.request(b"{}")
    assert (poll.method, poll.url, poll.body) == ("GET", d.statements_url + "/abc", b"")
    assert {k: v for k, v in post.headers.items() if k != "Content-Type"} == dict(poll.headers)
    assert poll.headers["X-Team"] == "obs" and poll.headers["Authorization"] == f"Bearer {TOKEN}"


def test_the_request_id_is_the_bodys_so_a_retry_repeats_it():
    d = make_destination(config())
    body = d.new_encoder()
    body.append(full_record(1))
    one = body.finish()
    body.append(full_record(2))
    two = body.finish()
    assert d.request(one).url == d.request(one).url != d.request(two).url
    probes = {d.test_request()[0].url for _ in range(3)}
    assert len(probes) == 3  # a probe is never taken for a resubmission


def test_the_probe_inserts_nothing_and_names_every_column():
    d = make_destination(contract.config("https://backend.example"))
    probe, also_ok = d.test_request()
    doc = json.loads(probe.body)
    assert also_ok == frozenset() and probe.method == "POST" and urlsplit(probe.url).path == "/api/v2/statements"
    assert doc["statement"].endswith(" WHERE FALSE") and "bindings" not in doc
    assert f"({', '.join(NAMES)})" in doc["statement"] and "?" not in doc["statement"]
    assert contract.decode(probe.body, "application/json") == []


@pytest.mark.parametrize("status, excerpt, words", [
    (401, "", "credentials"),
    (403, "", "network policy"),
    (404, "", "path"),
    (422, ('{"code":"002003","sqlState":"42S02","message":"SQL compilation error:\\nTable \'X\' does not exist or'
           ' not authorized."'), "snowflake_ddl"),
    (422, '{"code":"003001","message":"Insufficient privileges to operate on table"}', "INSERT"),
    (422, '{"code":"000606","message":"No active warehouse selected in the current session."}', "warehouse"),
    (422, '{"code":"000904","message":"SQL compilation error: invalid identifier \'GENERATION_ID\'"}', "columns"),
])
def test_hints_for_the_usual_mistakes(status, excerpt, words):
    assert words in make_destination(config()).hint(status, excerpt)


# ================================================================ end to end, against a fake SQL API


class FakeSnowflake:
    """A local SQL API: POST /api/v2/statements and GET /api/v2/statements/{handle}, checked as Snowflake does.

    ``posts`` and ``polls`` script the answers ("ok", "pending", "fail", "reset"); then "ok". A POST
    answered "pending" keeps its rows until a poll says "ok"."""

    def __init__(self, ddl: str = contract.TABLE_DDL) -> None:
        self.ddl = ddl  # the table it holds: every statement is checked against its columns and types
        self.posts: deque[str] = deque()
        self.polls: deque[str] = deque()
        self.rows: list[dict] = []  # inserted
        self.requests: list[tuple[str, str, dict]] = []  # method, path (with query), headers
        self.problems: list[str] = []
        self.executed: dict[str, str] = {}  # requestId -> handle of a statement that succeeded
        self._pending: dict[str, tuple[str, list[dict]]] = {}  # handle -> (requestId, rows)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> FakeSnowflake:
        app = web.Application()
        app.router.add_post("/api/v2/statements", self._post)
        app.router.add_get("/api/v2/statements/{handle}", self._get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _refuse(self, status: int, why: str) -> web.Response:
        self.problems.append(f"{status} {why}")
        return web.json_response({"code": "390000", "message": why}, status=status)

    def _done(self, handle: str, rows: list[dict]) -> web.Response:
        self.rows += rows
        return web.json_response({"code": "090001", "sqlState": "00000", "message": "Statement executed successfully.",
                                  "statementHandle": handle, "statementStatusUrl": f"/api/v2/statements/{handle}",
                                  "data": [[str(len(rows))]], "stats": {"numRowsInserted": len(rows)}})

    def _failed(self, handle: str) -> web.Response:
        return web.json_response({"code": "002003", "sqlState": "42S02", "statementHandle": handle,
                                  "message": "SQL compilation error:\nTable 'OPENROUTER_TRACES' does not exist or"
                                             " not authorized."}, status=422)

    @staticmethod
    def _pending_answer(handle: str) -> web.Response:
        return web.json_response({"code": "333334", "message": "Asynchronous execution in progress.",
                                  "statementHandle": handle, "statementStatusUrl": f"/api/v2/statements/{handle}"},
                                 status=202)

    async def _post(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(("POST", request.path_qs, dict(request.headers)))
        why = contract.check_auth(request.headers)
        if why:
            return self._refuse(401, why)
        if request.content_type != "application/json":
            return self._refuse(415, request.content_type)
        raw = await request.read()
        try:
            contract.decode(raw, request.content_type, self.ddl)
            doc = json.loads(raw)
        except ValueError as exc:
            return self._refuse(422 if str(exc).startswith("422") else 400, str(exc))
        request_id, retry = request.query.get("requestId"), request.query.get("retry") == "true"
        if request_id in self.executed:
            if not retry:
                return self._refuse(422, "requestId reused without retry=true")
            return self._done(self.executed[request_id], [])  # executed once already: not again
        handle = f"01b{len(self.requests):05d}-0000-0001"
        reply = self.posts.popleft() if self.posts else "ok"
        rows = [] if doc["statement"].endswith("WHERE FALSE") else rows_of(doc)
        if reply == "fail":
            return self._failed(handle)
        if request_id:
            self.executed[request_id] = handle
        if reply == "pending":
            self._pending[handle] = (request_id, rows)
            return self._pending_answer(handle)
        if reply == "reset":  # executed, but the answer never reaches the client
            self.rows += rows
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        return self._done(handle, rows)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(("GET", request.path_qs, dict(request.headers)))
        why = contract.check_auth(request.headers)
        if why:
            return self._refuse(401, why)
        handle = request.match_info["handle"]
        if handle not in self._pending:
            return self._refuse(404, f"no statement {handle}")
        reply = self.polls.popleft() if self.polls else "ok"
        if reply == "pending":
            return self._pending_answer(handle)
        request_id, rows = self._pending.pop(handle)
        if reply == "fail":
            self.executed.pop(request_id, None)
            return self._failed(handle)
        return self._done(handle, rows)

    def methods(self) -> list[str]:
        return [m for m, _, _ in self.requests]


def burst(fake: FakeSnowflake, recs, retry: RetryPolicy = FAST, **extra) -> dict:
    b = Broadcaster([contract.config(fake.base_url, **extra)], max_batch_records=len(recs), retry=retry).start()
    for r in recs:
        b.emit(r)
    assert b.flush(10)
    (stats,) = b.stats()["destinations"].values()
    b.close()
    return stats


def test_a_batch_is_one_statement_and_every_row_arrives():
    recs = [full_record(i) for i in range(8)]
    with SinkThread(FakeSnowflake()) as fake:
        d = burst(fake, recs)
    assert fake.problems == [] and fake.methods() == ["POST"]
    assert d["delivered"] == 8 and d["dropped"] == {}
    assert [r["GENERATION_ID"] for r in fake.rows] == [r.id for r in recs]


def test_a_202_is_followed_on_the_status_url_until_it_is_done():
    recs = [full_record(i) for i in range(6)]
    fake = FakeSnowflake()
    fake.posts.append("pending")
    fake.polls.extend(["pending", "pending"])
    with SinkThread(fake):
        d = burst(fake, recs)
    assert fake.problems == [] and d["delivered"] == 6 and d["dropped"] == {} and d["retried"] == 0
    assert fake.methods() == ["POST", "GET", "GET", "GET"]  # never sent again while pending
    (_post, *gets) = fake.requests
    handle = gets[0][1].rsplit("/", 1)[1]
    assert all(path == f"/api/v2/statements/{handle}" for _, path, _ in gets)
    assert all(h["Authorization"] == f"Bearer {TOKEN}" and h["X-Snowflake-Authorization-Token-Type"] ==
               "PROGRAMMATIC_ACCESS_TOKEN" for _, _, h in gets)
    assert sorted(r["GENERATION_ID"] for r in fake.rows) == sorted(r.id for r in recs)


def test_a_pending_statement_that_fails_is_dropped_and_counted(caplog):
    caplog.set_level(logging.DEBUG, logger="spancast")
    fake = FakeSnowflake()
    fake.posts.append("pending")
    fake.polls.extend(["pending", "fail"])
    with SinkThread(fake):
        d = burst(fake, [full_record(i) for i in range(4)])
    assert d["dropped"] == {"permanent_http_error": 4} and d["delivered"] == 0 and fake.rows == []
    assert "002003" in d["last_error"] and "does not exist" in d["last_error"]
    assert TOKEN not in caplog.text and TOKEN not in json.dumps(d)


def test_a_statement_pending_for_too_long_is_given_up():
    fake = FakeSnowflake()
    fake.posts.append("pending")
    fake.polls.extend(["pending"] * 1000)
    patient = RetryPolicy(max_attempts=3, max_retry_elapsed_s=5, initial_backoff_s=0.01, max_backoff_s=0.05,
                          max_pending_s=0.3, max_poll_interval_s=0.05)
    with SinkThread(fake):
        d = burst(fake, [full_record(i) for i in range(3)], retry=patient)
    assert d["dropped"] == {"retries_exhausted": 3} and "pending" in d["last_error"]
    assert fake.methods().count("POST") == 1 and fake.methods().count("GET") >= 3


def test_a_lost_answer_is_retried_with_the_same_request_id_and_not_inserted_twice():
    fake = FakeSnowflake()
    fake.posts.append("reset")
    recs = [full_record(i) for i in range(5)]
    with SinkThread(fake):
        d = burst(fake, recs)
    assert d["delivered"] == 5 and d["retried"] == 1 and fake.problems == []
    first, second = (urlsplit(path) for m, path, _ in fake.requests if m == "POST")
    assert first.query == second.query and "retry=true" in first.query
    assert sorted(r["GENERATION_ID"] for r in fake.rows) == sorted(r.id for r in recs)  # once each


def test_privacy_mode_sends_no_content_to_the_table():
    needles = ["PROMPT-4a1 needle", "COMPLETION-e52 needle", "MESSAGE-0b7 needle"]
    recs = [full_record(i, prompt=needles[0], completion=needles[1], messages=[{"role": "user", "content": needles[2]}])
            for i in range(4)]
    with SinkThread(FakeSnowflake()) as fake:
        d = burst(fake, recs, privacy_mode=True)
    assert d["delivered"] == 4
    assert all(row["INPUT"] == row["OUTPUT"] == "" for row in fake.rows)
    assert not any(n.split()[0] in json.dumps(fake.rows) for n in needles)


def test_the_connection_test_probes_the_table():
    with SinkThread(FakeSnowflake()) as fake:
        cfg = contract.config(fake.base_url)
        good = Broadcaster([cfg]).test_connection("snowflake")
        assert good.ok and good.status == 200 and fake.rows == [] and fake.problems == []
        fake.posts.append("fail")
        bad = Broadcaster([cfg]).test_connection("snowflake")
        assert not bad.ok and bad.status == 422 and "snowflake_ddl" in bad.hint
        wrong = Broadcaster([contract.config(fake.base_url, token="not-the-token")]).test_connection("snowflake")
        assert not wrong.ok and wrong.status == 401 and "credentials" in wrong.hint
        assert "not-the-token" not in repr(wrong)


# ================================================================ a table made from OpenRouter's instructions


def test_columns_openrouter_names_exactly_the_columns_of_openrouters_table():
    printed = contract.table_of(sf.snowflake_ddl(contract.DATABASE, contract.SCHEMA, contract.TABLE, "openrouter"))
    assert list(printed.items()) == list(contract.table_of(contract.OPENROUTER_DDL).items())  # names, families
    assert list(printed) == [name for name, _ in sf.OPENROUTER_COLUMNS]
    assert not {"GENERATION_ID", "PROVIDER_ATTEMPTS"} & set(printed)
    with pytest.raises(ConfigError, match="spancast or openrouter"):
        sf.snowflake_ddl(columns="PUBLIC")
    with pytest.raises(ConfigError, match="columns"):  # schema stays Snowflake's schema name
        make_destination(config(columns="PUBLIC"))


def test_a_table_made_from_openrouters_ddl_takes_the_rows_with_columns_openrouter():
    recs = [full_record(i) for i in range(3)] + [attempts_record()]
    with SinkThread(FakeSnowflake(contract.OPENROUTER_DDL)) as fake:
        cfg = contract.config(fake.base_url, columns="openrouter")
        probe = Broadcaster([cfg]).test_connection("snowflake")
        assert probe.ok and probe.status == 200
        d = burst(fake, recs, columns="openrouter")
        assert fake.problems == [] and d["delivered"] == 4 and d["dropped"] == {}
        # spancast's own table shape names columns this table lacks: the probe says so and nothing goes in
        refused = Broadcaster([contract.config(fake.base_url)]).test_connection("snowflake")
        assert not refused.ok and refused.status == 422 and "columns: openrouter" in refused.hint
    salt = make_destination(cfg).id_salt
    for got, rec in zip(fake.rows, recs):
        full = ch.row(rec, salt)
        assert set(got) == set(contract.table_of(contract.OPENROUTER_DDL))
        assert (got["TRACE_ID"], got["SPAN_ID"], got["MODEL"]) == (full["TRACE_ID"], full["SPAN_ID"], rec.model)
        assert int(got["TIMESTAMP"]) == rec.start_time_ns and int(got["TOTAL_TOKENS"]) == full["TOTAL_TOKENS"]
        assert float(got["TOTAL_COST"]) == full["TOTAL_COST"] and got["SPAN_TYPE"] == "GENERATION"
        assert got["METADATA"] == full["METADATA"] and got["INPUT"] == full["INPUT"]
    assert fake.rows[-1]["STATUS"] == "error" and fake.rows[0]["USER_ID"] == recs[0].user


def test_rows_in_openrouters_shape_leave_spancasts_columns_null_and_fail_on_a_not_null_one():
    recs = [full_record(i) for i in range(2)]
    with SinkThread(FakeSnowflake()) as fake:  # spancast's table holds every column of OpenRouter's
        assert Broadcaster([contract.config(fake.base_url, columns="openrouter")]).test_connection("snowflake").ok
        d = burst(fake, recs, columns="openrouter")
        assert d["delivered"] == 2 and fake.problems == [] and "GENERATION_ID" not in fake.rows[0]
    strict = contract.TABLE_DDL.replace("GENERATION_ID          VARCHAR", "GENERATION_ID          VARCHAR NOT NULL")
    assert contract.not_null(strict) == {"GENERATION_ID"}
    with SinkThread(FakeSnowflake(strict)) as fake:  # a table that requires GENERATION_ID refuses them
        d = burst(fake, recs, columns="openrouter")
        assert d["delivered"] == 0 and fake.rows == [] and "100072" in fake.problems[-1]
        d = burst(fake, recs)
        assert d["delivered"] == 2 and len(fake.rows) == 2


def test_the_probe_on_openrouters_table_names_the_setting_that_fits():
    with SinkThread(FakeSnowflake(contract.OPENROUTER_DDL)) as fake:
        wrong = Broadcaster([contract.config(fake.base_url)]).test_connection("snowflake")
        assert not wrong.ok and wrong.status == 422 and "columns: openrouter" in wrong.hint
        assert "invalid identifier 'GENERATION_ID'" in fake.problems[-1] and fake.rows == []
    lacking = contract.OPENROUTER_DDL.replace("SPAN_ID VARCHAR, ", "")  # an OpenRouter table without SPAN_ID
    with SinkThread(FakeSnowflake(lacking)) as fake:
        wrong = Broadcaster([contract.config(fake.base_url, columns="openrouter")]).test_connection("snowflake")
        assert not wrong.ok and wrong.status == 422 and "columns: spancast" in wrong.hint


def test_privacy_mode_sends_no_content_with_columns_openrouter():
    needles = ["PROMPT-9d2 needle", "COMPLETION-61f needle", "REASONING-0ce needle", "MESSAGE-b38 needle"]
    recs = [full_record(i, prompt=needles[0], completion=needles[1], reasoning=needles[2],
                        messages=[{"role": "user", "content": needles[3]}]) for i in range(3)]
    with SinkThread(FakeSnowflake(contract.OPENROUTER_DDL)) as fake:
        d = burst(fake, recs, columns="openrouter", privacy_mode=True)
    assert d["delivered"] == 3 and fake.problems == []
    assert all(row["INPUT"] == row["OUTPUT"] == "" for row in fake.rows)  # every bound value is in a row
    assert not any(n.split()[0] in json.dumps(fake.rows) for n in needles)
