"""A started spancast Server whose one destination is a local OTLP sink, for the HTTP tests of serve."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from spancast.config import parse_config
from spancast.server import Server
from spancast.testing.sink import OtlpSink


def run_server(scenario, *, sink: OtlpSink | None = None, token: str | None = None,
               server: dict[str, Any] | None = None, pipeline: dict[str, Any] | None = None):
    """scenario(server, session, sink), the session's base URL the server's; the pipeline flushes every 50 ms
    unless pipeline says otherwise; server holds [server] settings."""
    async def main():
        async with (sink or OtlpSink()) as s:
            config = parse_config({"pipeline": {"flush_interval_s": 0.05, **(pipeline or {})}, "server": server or {},
                                   "destinations": [{"type": "otel-collector", "name": "sink", "endpoint": s.url}]})
            started = Server(config, port=0, token=token)
            await started.start()
            try:
                async with aiohttp.ClientSession(base_url=started.url) as session:
                    return await scenario(started, session, s)
            finally:
                await started.stop(5)

    return asyncio.run(main())
