"""Secrets never echo: receivers that repeat the request in their error answers, for every destination type.

Each destination type (two more for the routes with their own auth: Weave's calls, Basic ``api:<key>``,
and Opik's REST batches) is configured with its credentials and a custom header, against a receiver
that answers 400 with the request's line, headers and body (headers first, then body first). What
spancast keeps, logs or prints of those answers (``stats()`` last_error, the log line, ``spancast
test`` and ``spancast send``, tables and ``--json``, ``spancast preview``) must hold no secret in any
common encoding, yet must show the echo (so the test cannot pass by showing nothing). The ``file``
destination has no receiver to echo anything; ``redis`` is tested against a fake server that repeats
each command in its error reply, AUTH and its password included.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import threading
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import msgspec
import pytest

from conftest import full_record, load_contract
from sinkthread import SinkThread
from spancast import Broadcaster
from spancast.cli import main
from spancast.destinations import REGISTRY
from spancast.scrub import scrub_text
from spancast.testing.sink import Expect, OtlpSink, Reply

CUSTOM = "custom-header-secret-5e1f9a0c"
HTTP_TYPES = sorted(t for t, cls in REGISTRY.items() if cls.transport == "http")


def _case(kind: str, **extra) -> tuple[object, dict]:
    c = load_contract(kind)
    return c, extra


#: case name -> (contract module, extra settings)
CASES = {kind: _case(kind) for kind in HTTP_TYPES}
CASES["weave-calls"] = _case("weave", route="calls")
CASES["opik-rest"] = _case("opik", route="rest")
CONTENT_TYPES = {"weave-calls": "application/json", "opik-rest": "application/json"}


def forms(secret: str) -> set[str]:
    """A secret as a receiver may repeat it: raw, URL-encoded, JSON-escaped, base64."""
    raw = secret.encode()
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), json.dumps(secret)[1:-1],
            base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")}


def secrets(case: str, entry: dict) -> set[str]:
    c, _ = CASES[case]
    found = set(c.SECRETS) | {CUSTOM}
    if case == "weave-calls":
        found.add(base64.b64encode(f"api:{entry['config']['apiKey']}".encode()).decode())
    return {f for s in found for f in forms(s)}


def echoing_sink(case: str, body_first: bool) -> OtlpSink:
    c, _ = CASES[case]
    ctype = CONTENT_TYPES.get(case, c.CONTENT_TYPE)
    # Any path (object keys, both Opik routes), the bodies not decoded: an echoing proxy takes anything.
    expect = Expect(path="/*", method=c.METHOD, content_types=frozenset({ctype}), decode=lambda body, ct: [])
    return OtlpSink(expect, default=Reply.echo(400, body_first=body_first))


def entry(case: str, base_url: str) -> dict:
    c, extra = CASES[case]
    settings = c.config(base_url, **extra)
    headers = {**settings.pop("headers", {}), "X-Custom-Secret": CUSTOM}
    return {"type": settings.pop("type"), "name": case, "config": {**settings, "headers": headers}}


@pytest.mark.parametrize("body_first", [False, True], ids=["headers-first", "body-first"])
def test_no_secret_a_receiver_repeats_is_kept_logged_or_printed(tmp_path: Path, capsys, caplog, body_first):
    caplog.set_level(logging.DEBUG, logger="spancast")
    now = time.time_ns()
    records = tmp_path / "records.ndjson"
    records.write_text("".join(_json(full_record(i, start_time_ns=now, end_time_ns=now + 1)) + "\n" for i in range(3)))
    with contextlib.ExitStack() as stack:
        sinks = {case: stack.enter_context(SinkThread(echoing_sink(case, body_first))) for case in CASES}
        entries = [entry(case, sink.base_url) for case, sink in sinks.items()]
        config = tmp_path / "destinations.json"
        config.write_text(json.dumps(entries))
        shown: list[str] = []
        for argv in (["send", str(records)], ["send", str(records), "--json"], ["test"], ["test", "--json"]):
            main([*argv, "--config", str(config)])
            captured = capsys.readouterr()
            shown += [captured.out, captured.err]
        b = Broadcaster.from_config(config)
        shown += [json.dumps(b.preview(full_record(1, start_time_ns=now, end_time_ns=now + 1), case)) for case in CASES]
    shown += [r.getMessage() for r in caplog.records]
    text = "\n".join(shown)
    sent = json.loads(shown[2])  # send --json
    for row in sent["destinations"]:
        case = row["destination"]
        assert row["dropped"] == {"permanent_http_error": 3}, row
        assert row["last_error"].startswith("HTTP 400: ") and len(row["last_error"]) > 40, row  # the echo shows
        if not body_first:
            assert "HTTP/1.1" in row["last_error"], row
        leaked = sorted(f[:6] for f in secrets(case, next(e for e in entries if e["name"] == case)) if f in text)
        assert not leaked, f"{case}: secrets shown, starting {leaked}"
    tested = json.loads(shown[6])  # test --json
    assert {r["destination"] for r in tested} == set(CASES) and all(r["response_excerpt"] for r in tested)


def test_every_destination_type_is_echoed_with_its_credentials():
    """The cases are the registry's HTTP types (issue 14's phoenix and mlflow among them, their apiKey and
    token as the secrets) and the two routes with their own auth."""
    assert set(CASES) == set(HTTP_TYPES) | {"weave-calls", "opik-rest"} and {"phoenix", "mlflow"} <= set(CASES)
    assert all(CASES[case][0].SECRETS for case in CASES)
    assert entry("phoenix", "http://127.0.0.1:9")["config"]["apiKey"] in CASES["phoenix"][0].SECRETS
    assert entry("mlflow", "http://127.0.0.1:9")["config"]["token"] in CASES["mlflow"][0].SECRETS


def _json(record) -> str:
    return msgspec.json.encode(record).decode()


def test_a_secret_cut_by_an_excerpt_loses_its_start_too():
    secret = "sk-lf-0123456789abcdef"
    assert scrub_text(f"refused key {secret} twice", [secret]) == "refused key *** twice"
    assert scrub_text(f"refused key {secret[:9]}", [secret]) == "refused key ***"  # the excerpt ended mid-secret
    assert scrub_text("refused key sk-lf", [secret]) == "refused key sk-lf"  # 5 characters: too short to mean it
    assert scrub_text(f"KEY {secret.upper()} and {quote(secret + '/=')}", [secret + "/=", secret]) == "KEY *** and ***"
    basic = base64.b64encode(b"pk:" + secret.encode()).decode()
    assert scrub_text(f"Authorization: Basic {basic}", ["Basic " + basic]) == "Authorization: ***"
    assert scrub_text("on", ["on"]) == "on"  # shorter than 4 characters: not masked anywhere


# ---------------------------------------------------------------- redis: a server that repeats each command


class EchoingRedis:
    """A RESP server on a thread that answers every command with an error repeating it (AUTH included)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                line = await reader.readline()
                if not line:
                    return
                count = int(line[1:])
                args = []
                for _ in range(count):
                    size = int((await reader.readline())[1:])
                    args.append((await reader.readexactly(size + 2))[:-2].decode("utf-8", "replace"))
                writer.write(f"-ERR proxy refused: {' '.join(args)}\r\n".encode())
                await writer.drain()

    def __enter__(self) -> EchoingRedis:
        self.thread.start()

        async def start():
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            return self.server.sockets[0].getsockname()[1]

        self.port = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop():
            self.server.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_redis_errors_repeating_the_password_are_scrubbed(tmp_path: Path, capsys, caplog):
    password = "redis-echo-secret-7c2e9b41"
    caplog.set_level(logging.DEBUG, logger="spancast")
    with EchoingRedis() as server:
        destinations = [{"type": "redis", "name": "in-url", "url": f"redis://:{password}@127.0.0.1:{server.port}/0"},
                        {"type": "redis", "name": "as-setting", "url": f"redis://127.0.0.1:{server.port}/0",
                         "password": password}]
        config = tmp_path / "destinations.json"
        config.write_text(json.dumps([{"type": d.pop("type"), "name": d.pop("name"), "config": d} for d in destinations]))
        records = tmp_path / "records.ndjson"
        records.write_text(_json(full_record(1)) + "\n")
        shown = []
        for argv in (["send", str(records), "--json"], ["test", "--json"], ["test"]):
            main([*argv, "--config", str(config)])
            captured = capsys.readouterr()
            shown += [captured.out, captured.err]
    shown += [r.getMessage() for r in caplog.records]
    text = "\n".join(shown)
    assert "proxy refused" in text  # the server's words are shown ...
    for secret in (password,):
        assert not any(f in text for f in forms(secret))  # ... without the password it repeated
