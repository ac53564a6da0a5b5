"""The catalogue's sink process: every HTTP destination type's contract fake (tests/contract), behind a fast front.

Each type gets a front on a port of its own that keeps each request as it came and answers 200 at once (as a
backend that queues its input does: the fakes' checks in Python would otherwise be the run's bottleneck, and
a slow answer a timeout and a re-send). On /_stats, outside the timed window, every kept request is replayed
to that type's fake, the tests' OtlpSink with the contract's checks (path, method, auth, content type, the
body decoded as the vendor would: opentelemetry-proto for OTLP, the contract's decode() otherwise); what it
accepts is tallied (requests, wire bytes, records) and let go, what it refuses is counted as a problem.
Prints one JSON line, {"control": port, "configs": {type: its contract's config, aimed at its fake}}, then
serves until terminated (the configs come from here because a contract may make its keys at import time, as
BigQuery's service account is: the fake and the destination must share them). Control, on
its own port: GET /_reset, /_cpu (this process's CPU and wall seconds since the reset), /_stats.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/catalogue_sink.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp import web

from spancast.testing.sink import Expect, OtlpSink

TESTS = Path(__file__).resolve().parent.parent / "tests"


def records_in(received) -> int:
    """Records one accepted request carried: its generation ids, or for a flavour without them (OpenInference
    has no response id attribute) its LLM spans, as tests/test_contract.py counts them."""
    ids = received.generation_ids()
    if ids:
        return len(ids)
    return sum(1 for s in received.spans if s["attributes"].get("openinference.span.kind") == "LLM")


class Tally(list):
    """Stands in for OtlpSink.received: counts what is appended, keeps none of it."""

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        self.requests = self.wire_bytes = self.records = 0

    def append(self, received) -> None:  # noqa: D102 - list's own
        self.requests += 1
        self.wire_bytes += received.wire_bytes
        self.records += records_in(received)


def contract_fake(c) -> OtlpSink:
    """What tests/test_contract.py's fake() builds for a contract, with a Tally in place of its list."""
    prefix = getattr(c, "PATH_PREFIX", None)
    expect = Expect(path=prefix + "*" if prefix else c.PATH, method=c.METHOD, content_types=frozenset({c.CONTENT_TYPE}),
                    auth=c.check_auth, decode=None if c.BODY == "otlp" else c.decode)
    sink = OtlpSink(expect)
    sink.received = Tally()
    return sink


class Front:
    """Keeps every request (method, path and query, headers, body) and answers 200 with no body."""

    def __init__(self) -> None:
        self.kept: list[tuple[str, str, dict[str, str], bytes]] = []
        self.port = 0

    async def start(self) -> Front:
        app = web.Application(client_max_size=1 << 30, handler_args={"auto_decompress": False})
        app.router.add_route("*", "/{tail:.*}", self.keep)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=128)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def keep(self, request: web.Request) -> web.Response:
        self.kept.append((request.method, request.path_qs, dict(request.headers), await request.read()))
        return web.Response(status=200, body=b"")

    async def replay(self, session, fake: OtlpSink) -> None:
        """Every kept request to the fake, in the order they came; none kept afterwards."""
        kept, self.kept = self.kept, []
        for method, path_qs, headers, body in kept:
            headers = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
            async with session.request(method, fake.base_url + path_qs, headers=headers, data=body) as resp:
                await resp.read()


async def serve(kinds: list[str]) -> None:
    sys.path.insert(0, str(TESTS))
    from conftest import load_contract

    contracts = {kind: load_contract(kind) for kind in kinds}
    sinks = {kind: await contract_fake(c).start() for kind, c in contracts.items()}
    fronts = {kind: await Front().start() for kind in kinds}
    session = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None))
    clock = {"cpu0": time.process_time(), "wall0": time.perf_counter()}

    def cpu() -> dict:
        return {"cpu_s": time.process_time() - clock["cpu0"], "wall_s": time.perf_counter() - clock["wall0"]}

    def reset() -> dict:
        for kind, sink in sinks.items():
            fronts[kind].kept.clear()
            sink.received.reset()
            sink.problems.clear()
        clock.update(cpu0=time.process_time(), wall0=time.perf_counter())
        return {"ok": True}

    async def stats() -> dict:
        for kind, front in fronts.items():
            await front.replay(session, sinks[kind])
        return {kind: {"requests": s.received.requests, "wire_bytes": s.received.wire_bytes,
                       "records": s.received.records, "problems": [f"{st} {why}"[:300] for st, why in s.problems[:5]],
                       "problem_count": len(s.problems)} for kind, s in sinks.items()}

    def control(fn):
        async def handler(request: web.Request) -> web.Response:
            out = fn()
            return web.json_response(await out if asyncio.iscoroutine(out) else out)

        return handler

    app = web.Application()
    for name, fn in (("_reset", reset), ("_cpu", cpu), ("_stats", stats)):
        app.router.add_get(f"/{name}", control(fn))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    configs = {kind: contracts[kind].config(f"http://127.0.0.1:{f.port}", name=kind) for kind, f in fronts.items()}
    print(json.dumps({"control": port, "configs": configs}), flush=True)
    await asyncio.Event().wait()


def main() -> None:
    import uvloop

    uvloop.run(serve(sys.argv[1].split(",")))


if __name__ == "__main__":
    main()
