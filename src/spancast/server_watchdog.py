"""Closes the server's connections that are slow to deliver a request: half-sent headers and idle keep-alives alike.

aiohttp parses a request's headers before any handler sees it and sets no deadline on that itself, so
a client that sends half a request line holds a connection (and its buffers) for as long as it likes.
Here a connection gets header_timeout_s from when it was first seen, or answered last, to have its
next request's headers in; a sweep closes the ones that did not. Bodies have their own deadline in
the handler that reads them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

__all__ = ["ConnectionWatchdog"]


class ConnectionWatchdog:
    def __init__(self, header_timeout_s: float) -> None:
        self.header_timeout_s = header_timeout_s
        self.closed = 0  # connections closed for being slow
        self._busy: dict[Any, int] = {}  # connection -> requests being handled on it
        self._since: dict[Any, float] = {}  # connection -> when it was first seen or last answered
        self._task: asyncio.Task[None] | None = None

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        connection = request.protocol
        self._busy[connection] = self._busy.get(connection, 0) + 1
        try:
            return await handler(request)
        finally:
            left = self._busy.pop(connection) - 1
            if left:
                self._busy[connection] = left
            self._since[connection] = asyncio.get_running_loop().time()

    def start(self, server: web.Server) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sweep(server))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _sweep(self, server: web.Server) -> None:
        loop = asyncio.get_running_loop()
        every_s = min(1.0, self.header_timeout_s / 4)
        while True:
            await asyncio.sleep(every_s)
            now = loop.time()
            live = server.connections
            for connection in live:
                if connection in self._busy:
                    continue
                if now - self._since.setdefault(connection, now) > self.header_timeout_s:
                    connection.force_close()
                    self.closed += 1
            if len(self._since) > len(live):  # forget the connections that are gone
                keep = set(live)
                self._since = {c: t for c, t in self._since.items() if c in keep}

    def __repr__(self) -> str:
        return f"<ConnectionWatchdog header_timeout={self.header_timeout_s:g}s closed={self.closed}>"
