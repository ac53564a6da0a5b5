"""The connection test's probe and verdict: the record it renders (one span, named and traced so that receivers can drop it), and its result."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .record import Generation

__all__ = ["ConnectionResult", "test_record", "TEST_NAME", "OPENROUTER_TEST_NAME", "TEST_TRACE_ID"]

TEST_NAME = "spancast-connection-test"
#: What OpenRouter's own test span is called (Ramp filters it out): the openrouter flavour's test sends it.
OPENROUTER_TEST_NAME = "openrouter-connection-test"
TEST_TRACE_ID = "0" * 31 + "1"


def test_record(now_ns: int | None = None, name: str = TEST_NAME) -> Generation:
    """The record a connection test renders: one span, named and traced so receivers can drop it."""
    now = time.time_ns() if now_ns is None else now_ns
    return Generation(
        id=name, model=name, start_time_ns=now, end_time_ns=now,
        trace={"trace_id": TEST_TRACE_ID, "trace_name": name, "generation_name": name},
    )


test_record.__test__ = False  # type: ignore[attr-defined]  # a factory, not a test, when pytest imports it


@dataclass(frozen=True)
class ConnectionResult:
    """The outcome of one test request."""

    destination: str
    ok: bool
    status: int | None  # None when no HTTP answer came (DNS, TLS, refused, timeout)
    latency_s: float
    excerpt: str = ""  # the start of the response body
    error: str = ""  # what went wrong, when something did
    hint: str = ""  # the usual cause of that outcome

    def __repr__(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        status = self.status if self.status is not None else "no answer"
        extra = f" error={self.error!r}" if self.error else ""
        return f"<ConnectionResult {self.destination} {verdict} status={status} latency={self.latency_s * 1000:.0f}ms{extra}>"
