"""SIGTERM and SIGINT for long-running commands: the first asks for a drain, a second exits at once."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

__all__ = ["stop_event"]


def stop_event(loop: asyncio.AbstractEventLoop, log: logging.Logger) -> asyncio.Event:
    """An event set by the first SIGTERM or SIGINT; a second one exits the process with 128 + its number."""
    stop = asyncio.Event()
    seen: list[int] = []

    def on_signal(signum: int) -> None:
        seen.append(signum)
        if len(seen) > 1:
            log.warning("second signal: exiting without draining")
            os._exit(128 + signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    return stop
