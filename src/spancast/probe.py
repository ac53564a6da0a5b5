"""The record a connection test renders: one span, named and traced so that receivers can drop it."""

from __future__ import annotations

import time

from .record import Generation

__all__ = ["test_record", "TEST_NAME", "OPENROUTER_TEST_NAME", "TEST_TRACE_ID"]

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
