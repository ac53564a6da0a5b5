"""The pipeline benchmark's OTLP/HTTP sink: an aiohttp receiver in its own process that reads, counts and answers 200."""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import time

from aiohttp import web

__all__ = ["count_spans", "serve"]


def count_spans(body: bytes) -> int:
    """Spans in an ExportTraceServiceRequest: resource_spans(1) > scope_spans(2) > spans(2), found by walking
    the protobuf framing (no parse, no copies; about 0.3 us per span of the "full" workload)."""
    buf = body
    n = 0

    def walk(i: int, end: int, want: int, inner) -> None:
        nonlocal n
        while i < end:
            key = buf[i]
            i += 1
            if key >= 0x80:
                key, shift = key & 0x7F, 7
                while True:
                    b = buf[i]
                    i += 1
                    key |= (b & 0x7F) << shift
                    if b < 0x80:
                        break
                    shift += 7
            wire = key & 7
            if wire == 2:
                size = buf[i]
                i += 1
                if size >= 0x80:
                    size, shift = size & 0x7F, 7
                    while True:
                        b = buf[i]
                        i += 1
                        size |= (b & 0x7F) << shift
                        if b < 0x80:
                            break
                        shift += 7
                if key >> 3 == want:
                    if inner is None:
                        n += 1
                    else:
                        inner(i, i + size)
                i += size
            elif wire == 0:
                while buf[i] >= 0x80:
                    i += 1
                i += 1
            elif wire == 1:
                i += 8
            elif wire == 5:
                i += 4
            else:
                raise ValueError(f"wire type {wire}")

    def scope_spans(i: int, end: int) -> None:
        walk(i, end, 2, None)

    def resource_spans(i: int, end: int) -> None:
        walk(i, end, 2, scope_spans)

    walk(0, len(buf), 1, resource_spans)
    return n


def _decompress(encoding: str, body: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    raise ValueError(f"unexpected Content-Encoding {encoding!r}")


class Sink:
    """Counts requests, wire bytes and spans per path. Uncompressed bodies are counted as they arrive (a walk
    over the protobuf framing); compressed ones are kept and counted on /stats, outside the timed window."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> dict:
        self.paths: dict[str, dict] = {}
        self.pending: list[tuple[str, str, bytes]] = []
        self.stalled = 0  # requests to /stall/... being held
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        return {"ok": True}

    def _path(self, path: str) -> dict:
        st = self.paths.get(path)
        if st is None:
            st = self.paths[path] = {"requests": 0, "wire_bytes": 0, "body_bytes": 0, "spans": 0, "encodings": {}}
        return st

    async def traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.path.startswith("/stall/"):  # a destination that hangs: read the body, never answer
            self.stalled += 1
            await asyncio.Event().wait()  # cancelled when the client gives up or goes away
        st = self._path(request.path)
        st["requests"] += 1
        st["wire_bytes"] += len(body)
        encoding = request.headers.get("Content-Encoding", "identity")
        st["encodings"][encoding] = st["encodings"].get(encoding, 0) + 1
        if encoding == "identity":
            st["body_bytes"] += len(body)
            st["spans"] += count_spans(body)
        else:
            self.pending.append((request.path, encoding, body))
        return web.Response(status=200, body=b"", content_type="application/x-protobuf")

    def cpu(self) -> dict:
        """This process's CPU seconds and wall seconds since the last reset (call before /stats)."""
        return {"cpu_s": time.process_time() - self.cpu0, "wall_s": time.perf_counter() - self.wall0}

    def stats(self) -> dict:
        for path, encoding, body in self.pending:
            raw = _decompress(encoding, body)
            st = self._path(path)
            st["body_bytes"] += len(raw)
            st["spans"] += count_spans(raw)
        self.pending = []
        return {"paths": self.paths, "stalled": self.stalled, **self.cpu()}


async def serve(port_out) -> None:
    sink = Sink()
    app = web.Application(client_max_size=1 << 30, handler_args={"auto_decompress": False})

    def control(fn):
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(fn())

        return handler

    app.router.add_get("/_reset", control(sink.reset))
    app.router.add_get("/_cpu", control(sink.cpu))
    app.router.add_get("/_stats", control(sink.stats))
    app.router.add_post("/{tail:.*}", sink.traces)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=128)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    port_out.write(json.dumps({"port": port}) + "\n")
    port_out.flush()
    await asyncio.Event().wait()  # until the parent terminates this process


def main() -> None:
    try:
        import uvloop
    except ImportError:
        uvloop = None
    if uvloop is not None:
        uvloop.run(serve(sys.stdout))
    else:
        asyncio.run(serve(sys.stdout))


if __name__ == "__main__":
    main()
