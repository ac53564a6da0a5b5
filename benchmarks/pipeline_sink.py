"""The benchmarks' OTLP/HTTP sink: an aiohttp receiver in its own process that reads, counts and answers 200.

Options: ``--latency-ms X`` holds every answer X ms (a remote backend's response time, without its CPU);
``/_reset?track=1`` also notes, per request, the time it was answered (CLOCK_MONOTONIC, shared by every
process on the machine) and the trace id of each span in it, as integers: the paced benchmarks put each
record's emit index in its trace id, so emit-to-acknowledgement latency is ack time minus emit time.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sys
import time
from array import array

from aiohttp import web

__all__ = ["count_spans", "serve", "span_trace_ids"]


def count_spans(body: bytes) -> int:
    """Generation spans in an ExportTraceServiceRequest, one per record: resource_spans(1) > scope_spans(2) >
    spans(2) of kind CLIENT (field 6 = 3), found by walking the protobuf framing (no parse, no copies; about
    0.3 us per span of the "full" workload). The trace roots every workload record has (kind INTERNAL, spancast's
    and the SDK contender's alike) are not counted: rates and CPU are per record, not per span."""
    return _walk_spans(body, None)


def span_trace_ids(body: bytes) -> list[int]:
    """The trace id of every generation span, as an integer, in body order (the same walk as count_spans)."""
    ids: list[int] = []
    _walk_spans(body, ids)
    return ids


def _trace_id(buf: bytes, i: int, end: int) -> int:
    """The trace id's low 63 bits (the benchmarks' indices are small; they must fit an int64 array)."""
    # trace_id is field 1 and every OTLP writer here (spancast, the SDK's encoder) puts it first: 0x0A 0x10
    if buf[i] == 0x0A and buf[i + 1] == 16:
        return int.from_bytes(buf[i + 10 : i + 18], "big") & 0x7FFF_FFFF_FFFF_FFFF
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    return int.from_bytes(Span.FromString(bytes(buf[i:end])).trace_id[8:], "big") & 0x7FFF_FFFF_FFFF_FFFF


def _kind(buf: bytes, i: int, end: int) -> int:
    """A span's kind (field 6, a varint; 0 when absent), from its top-level fields: writers put it after the
    ids and the name, so the walk stops early."""
    # varints are read inline here and in the walk, not by a helper: at full rate the sink keeps ~90% of a
    # core busy, and a call per field would make the sink the bottleneck the benchmarks measure
    while i < end:
        key, shift = 0, 0
        while True:
            b = buf[i]
            i += 1
            key |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
        wire = key & 7
        if key >> 3 == 6 and wire == 0:
            return buf[i]
        if wire == 2:
            size, shift = 0, 0
            while True:
                b = buf[i]
                i += 1
                size |= (b & 0x7F) << shift
                if b < 0x80:
                    break
                shift += 7
            i += size
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            while buf[i] >= 0x80:
                i += 1
            i += 1
    return 0


def _walk_spans(body: bytes, ids: list[int] | None) -> int:
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
                        if _kind(buf, i, i + size) != 3:  # not a generation (CLIENT) span: a trace root
                            i += size
                            continue
                        n += 1
                        if ids is not None:
                            ids.append(_trace_id(buf, i, i + size))
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

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.reset()

    def reset(self, track: bool = False) -> dict:
        self.paths: dict[str, dict] = {}
        self.pending: list[tuple[str, str, bytes, int]] = []
        self.stalled = 0  # requests to /stall/... being held
        self.track = track
        self.req_ack_ns, self.span_ids, self.span_req = array("q"), array("q"), array("q")
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        return {"ok": True}

    def _note(self, ack_ns: int, body: bytes) -> int:
        """Spans in body; with tracking on, their trace ids and this request's ack time are noted too."""
        if not self.track:
            return count_spans(body)
        ids = span_trace_ids(body)
        self.span_req.extend([len(self.req_ack_ns)] * len(ids))
        self.span_ids.extend(ids)
        self.req_ack_ns.append(ack_ns)
        return len(ids)

    def acks(self, path: str) -> dict:
        """Write the tracked arrays to path (int64: requests' ack ns, then spans' trace ids, then spans' request
        index), so that a run's hundreds of thousands of latencies do not travel as JSON."""
        self.stats()  # compressed bodies are walked now
        with open(path, "wb") as f:
            for arr in (self.req_ack_ns, self.span_ids, self.span_req):
                arr.tofile(f)
        return {"requests": len(self.req_ack_ns), "spans": len(self.span_ids)}

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
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        ack_ns = time.monotonic_ns()  # the answer goes out right after this: the acknowledgement time
        st = self._path(request.path)
        st["requests"] += 1
        st["wire_bytes"] += len(body)
        encoding = request.headers.get("Content-Encoding", "identity")
        st["encodings"][encoding] = st["encodings"].get(encoding, 0) + 1
        if encoding == "identity":
            st["body_bytes"] += len(body)
            st["spans"] += self._note(ack_ns, body)
        else:
            self.pending.append((request.path, encoding, body, ack_ns))
        return web.Response(status=200, body=b"", content_type="application/x-protobuf")

    def cpu(self) -> dict:
        """This process's CPU seconds and wall seconds since the last reset (call before /stats)."""
        return {"cpu_s": time.process_time() - self.cpu0, "wall_s": time.perf_counter() - self.wall0}

    def stats(self) -> dict:
        for path, encoding, body, ack_ns in self.pending:
            raw = _decompress(encoding, body)
            st = self._path(path)
            st["body_bytes"] += len(raw)
            st["spans"] += self._note(ack_ns, raw)
        self.pending = []
        return {"paths": self.paths, "stalled": self.stalled, **self.cpu()}


async def serve(port_out, latency_s: float = 0.0) -> None:
    sink = Sink(latency_s)
    app = web.Application(client_max_size=1 << 30, handler_args={"auto_decompress": False})

    def control(fn):
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(fn())

        return handler

    async def reset(request: web.Request) -> web.Response:
        return web.json_response(sink.reset(request.query.get("track") == "1"))

    async def acks(request: web.Request) -> web.Response:
        return web.json_response(sink.acks(request.query["path"]))

    app.router.add_get("/_reset", reset)
    app.router.add_get("/_acks", acks)
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
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latency-ms", type=float, default=0.0, help="hold every answer this long (default 0)")
    latency_s = p.parse_args().latency_ms / 1000
    try:
        import uvloop
    except ImportError:
        uvloop = None
    if uvloop is not None:
        uvloop.run(serve(sys.stdout, latency_s))
    else:
        asyncio.run(serve(sys.stdout, latency_s))


if __name__ == "__main__":
    main()
