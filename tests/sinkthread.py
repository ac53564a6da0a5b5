"""Test helper: an OtlpSink on its own thread and loop, for tests of code that runs its own loop."""

from __future__ import annotations

import asyncio
import threading

from spancast.testing.sink import OtlpSink


class SinkThread:
    """with SinkThread(sink) as sink: ... — the sink serves from a background loop until the block ends."""

    def __init__(self, sink: OtlpSink) -> None:
        self.sink = sink
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> OtlpSink:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.sink.start(), self.loop).result(10)
        return self.sink

    def call(self, fn):
        """Run fn(sink) on the sink's loop (scripting and reading stay on one thread)."""
        async def run():
            return fn(self.sink)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def wait_for(self, condition, timeout_s: float = 10.0) -> None:
        asyncio.run_coroutine_threadsafe(self.sink.wait_for(condition, timeout_s), self.loop).result(timeout_s + 5)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sink.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
