"""The pipeline's defaults, written once: the Broadcaster's keywords, ``[pipeline]`` and the stages read them."""

from __future__ import annotations

__all__ = ["MAX_BATCH_RECORDS", "MAX_BATCH_BYTES", "FLUSH_INTERVAL_S", "INTAKE_MAX_RECORDS", "INTAKE_MAX_BYTES",
           "OVERFLOW", "BLOCK_TIMEOUT_S", "MAX_QUEUED_RECORDS", "MAX_QUEUED_BYTES", "MAX_MEMORY_BYTES",
           "INITIAL_CONCURRENCY", "MAX_CONCURRENCY", "SHUTDOWN_TIMEOUT_S", "USE_UVLOOP"]

# A batch (batcher.py): a request's records and bytes at most, and how long the oldest record waits.
MAX_BATCH_RECORDS = 512
MAX_BATCH_BYTES = 4 * 1024 * 1024
FLUSH_INTERVAL_S = 1.0
# The intake (intake.py): what emit() may queue before the overflow policy applies, and that policy.
INTAKE_MAX_RECORDS = 200_000
INTAKE_MAX_BYTES = 512 * 1024 * 1024
OVERFLOW = "drop_newest"
BLOCK_TIMEOUT_S = 1.0
# One destination's lane (lane.py): what it may hold queued behind its sender.
MAX_QUEUED_RECORDS = 200_000
MAX_QUEUED_BYTES = 512 * 1024 * 1024
# The whole pipeline: its memory cap (intake, backlog and bodies), requests in flight per destination
# (limiter.py: adapts between 1 and the maximum), the one deadline of shutdown, and the loop.
MAX_MEMORY_BYTES = 1024 * 1024 * 1024
INITIAL_CONCURRENCY = 4
MAX_CONCURRENCY = 32
SHUTDOWN_TIMEOUT_S = 10.0
USE_UVLOOP = True
