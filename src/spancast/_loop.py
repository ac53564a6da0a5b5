"""The event loop spancast runs on: uvloop where it is installed, the stdlib loop otherwise (said once)."""

from __future__ import annotations

import asyncio
import logging

__all__ = ["new_loop", "loop_name"]

_log = logging.getLogger("spancast")
_missing_said = False


def new_loop(use_uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """A new loop: uvloop's when asked for and installed; a missing uvloop is logged once per process,
    since `pip install spancast` brings it everywhere it has a build and its absence costs throughput."""
    global _missing_said
    if use_uvloop:
        try:
            import uvloop
        except ImportError as exc:
            if not _missing_said:
                _missing_said = True
                _log.warning("uvloop is not installed (%s): running on the stdlib asyncio loop, which is slower; "
                             "pip install uvloop", exc)
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """'uvloop 0.23.0' or 'asyncio': what a command announces it runs on."""
    if type(loop).__module__.startswith("uvloop"):
        import uvloop

        return f"uvloop {uvloop.__version__}"
    return "asyncio"
