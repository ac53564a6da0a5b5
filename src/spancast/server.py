"""spancast serve: HTTP ingest of generation records, health and readiness probes, Prometheus metrics.

Routes::

    POST /v1/generations   one JSON record, a JSON array, or NDJSON (gzip, deflate, zstd) -> 202 with counts
    POST /v1/traces        OTLP/HTTP traces, protobuf or JSON: LLM spans become records (server_otlp.py)
    (gRPC)                 OTLP/gRPC TraceService/Export on server.grpc_port, the same (server_grpc.py)
    GET  /healthz          200 while the process serves
    GET  /readyz           200 when records can flow; 503 while starting or stopping, while the spool cannot
                           take records (a disk error, or full: named), while every destination fails, or
                           when none is configured and enabled
    GET  /metrics          Prometheus text format (spancast.metrics)

The broadcaster runs on the server's own loop. A full intake is answered, not hidden: records that
do not fit are refused with their positions (503 and Retry-After when none fit), whatever the
overflow policy, because a client that can retry should, and emit() must not block the loop. With
a spool, 202 is answered once the records are in it (fsync per its policy); while the spool cannot
take records (a disk error, or full) requests get 503 at once, with the reason. Slow clients are cut
off: headers within server.header_timeout_s (server_watchdog.py), the body within body_timeout_s.
No input fails a whole request: bad records are named, and an unexpected error is logged once a
minute per cause, without a traceback per request.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import ipaddress
import logging
import os
import re
from typing import Any

import orjson
from aiohttp import web

from ._ratelog import RateLimitedLog
from ._signals import stop_event
from .broadcaster import Broadcaster
from .config import Config
from .errors import ListenError, SpoolError
from .metrics import make_registry, render
from .record import decode_records
from .server_body import BodyRefusal, BufferPool, read_body
from .server_otlp import TracesRoute
from .server_watchdog import ConnectionWatchdog

__all__ = ["Server", "serve", "is_loopback", "CONTENT_TYPES"]

log = logging.getLogger("spancast.server")

#: Media types POST /v1/generations takes; decode_records tells one object, an array and NDJSON apart.
CONTENT_TYPES = frozenset({"application/json", "application/x-ndjson", "application/ndjson", "application/jsonl",
                           "application/x-jsonlines"})
#: /readyz turns 503 when every destination has failed this many requests in a row.
FAILING_AFTER = 3
RETRY_AFTER_S = 1
#: serve's exit status when records it took were lost (dropped for a destination and not kept in a spool).
LOST = 1
DURABLE_TIMEOUT_S = 10.0  # with a spool, how long a request waits for its records to reach the disk
_BLANK = re.compile(rb"\s*")
_MAX_ERRORS_LISTED = 100  # per response: a bad 100k-record body must not answer with a 100k-entry list


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


class Server:
    """The aiohttp application around one Broadcaster."""

    def __init__(self, config: Config, *, host: str | None = None, port: int | None = None,
                 token: str | None = None, broadcaster: Broadcaster | None = None, reuse_port: bool = False,
                 merged_metrics: bool = False) -> None:
        """reuse_port: listen with SO_REUSEPORT, beside the other workers of spancast serve --workers;
        merged_metrics: /metrics shows every worker's (metrics_multiprocess.py; $PROMETHEUS_MULTIPROC_DIR set)."""
        self.config = config
        self.reuse_port = reuse_port
        self.host = config.server.host if host is None else host
        self.port = config.server.port if port is None else port
        token = token or config.server.token or os.environ.get("SPANCAST_TOKEN") or None
        if token is None and not is_loopback(self.host):
            raise PermissionError(f"refusing to listen on {self.host} without a token: set server.token in the "
                                  "configuration (or server.token_file, or SPANCAST_TOKEN)")
        self._expected = f"Bearer {token}".encode() if token else None
        self.max_body_bytes = config.server.max_body_bytes
        self.body_timeout_s = config.server.body_timeout_s
        self.watchdog = ConnectionWatchdog(config.server.header_timeout_s)
        self._log = RateLimitedLog(log)
        self.broadcaster = broadcaster or Broadcaster.from_config(config)
        self.forwarder = None
        if config.server.non_llm_spans == "forward":
            from .ingest.forward import Forwarder

            self.forwarder = Forwarder(self.broadcaster.destinations, self.broadcaster.retry,
                                       config.server.forward_max_bytes)
        self.buffers = BufferPool()
        self.traces = TracesRoute(self, self.forwarder)
        self.grpc = None
        if config.server.grpc_port is not None:
            from .errors import ConfigError
            from .server_grpc import MISSING, GrpcIngest, available

            if not available():
                raise ConfigError("server.grpc_port", MISSING)
            self.grpc = GrpcIngest(self, self.host, config.server.grpc_port)
        self.retry_after_s = RETRY_AFTER_S
        self.accepted = self.rejected = self.refused = 0
        self.mirror = None
        self._mirroring: asyncio.Task[None] | None = None
        if merged_metrics:
            from .metrics import BroadcasterCollector, ServerCollector
            from .metrics_multiprocess import Mirror, merged_registry

            self.mirror = Mirror([BroadcasterCollector(self.broadcaster), ServerCollector(self)])
            self.registry = merged_registry()
        else:
            self.registry = make_registry(self.broadcaster, server=self)
        self._runner: web.AppRunner | None = None
        self.stopping = False

    def app(self) -> web.Application:
        # The body limit is enforced here, before aiohttp buffers anything larger (413).
        app = web.Application(client_max_size=self.max_body_bytes, middlewares=[self.watchdog.middleware])
        app.add_routes([
            web.post("/v1/generations", self.ingest),
            web.post("/v1/traces", self.traces.handle),
            web.get("/healthz", self.healthz),
            web.get("/readyz", self.readyz),
            web.get("/metrics", self.metrics),
        ])
        return app

    async def start(self) -> None:
        """Start the pipeline, then listen; returns once both are up."""
        await self.broadcaster.astart()
        if self.forwarder is not None:
            await self.forwarder.start()
        # Bodies are inflated by the handler, against the limit, so that unknown encodings get a 415.
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, auto_decompress=False)
        await self._runner.setup()
        self.watchdog.start(self._runner.server)  # type: ignore[arg-type]
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, reuse_port=self.reuse_port or None)
        try:
            await site.start()
        except OSError as exc:
            # The pipeline is up by now: close it (its sessions too) before saying why, or every exit
            # would also print "Unclosed client session".
            await self.stop(0)
            raise ListenError(self.host, self.port, exc.strerror or str(exc)) from None
        sockets = getattr(site._server, "sockets", None) or []  # the port chosen for port 0
        if sockets:
            self.port = sockets[0].getsockname()[1]
        if self.grpc is not None:
            try:
                await self.grpc.start()
            except ListenError:
                await self.stop(0)
                raise
        if self.mirror is not None:
            self.mirror.sync()
            self._mirroring = asyncio.get_running_loop().create_task(self._mirror_every())

    async def _mirror_every(self) -> None:
        from .metrics_multiprocess import SYNC_INTERVAL_S

        while True:
            await asyncio.sleep(SYNC_INTERVAL_S)
            self.mirror.sync()  # type: ignore[union-attr]

    async def stop(self, timeout_s: float | None = None) -> None:
        """Stop taking requests, then deliver what is queued within the shutdown deadline."""
        self.stopping = True
        await self.watchdog.stop()
        if self.grpc is not None:
            await self.grpc.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.forwarder is not None:
            await self.forwarder.close(self.broadcaster.shutdown_timeout_s if timeout_s is None else timeout_s)
        await self.broadcaster.aclose(timeout_s)
        if self._mirroring is not None:
            self._mirroring.cancel()
            await asyncio.gather(self._mirroring, return_exceptions=True)
            self._mirroring = None
            self.mirror.sync()  # type: ignore[union-attr]  # what the drain delivered counts too

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # ------------------------------------------------------------ handlers

    def _authorized(self, request: web.Request) -> bool:
        if self._expected is None:
            return True
        given = request.headers.get("Authorization", "").encode()
        return hmac.compare_digest(given, self._expected)

    async def ingest(self, request: web.Request) -> web.Response:
        try:
            return await self._ingest(request)
        except Exception as exc:  # a bug: the client gets a 500, the log one line per cause and minute
            self._log(logging.ERROR, type(exc).__name__, "spancast: POST /v1/generations failed: %s: %s",
                      type(exc).__name__, str(exc)[:200])
            return _json({"error": f"internal error ({type(exc).__name__}); the records were not taken"}, 500)

    def gate(self, request: web.Request) -> tuple[int, str, dict[str, str] | None] | None:
        """(status, message, headers) when no request can be taken now: a wrong token, shutting down, a
        spool that cannot take records; None otherwise."""
        if not self._authorized(request):
            return 401, "missing or wrong bearer token", {"WWW-Authenticate": 'Bearer realm="spancast"'}
        if self.stopping or self.broadcaster.state != "running":
            return 503, "shutting down", {"Retry-After": str(RETRY_AFTER_S)}
        refusing = self.broadcaster.refusing()
        if refusing is not None:  # the spool cannot take records now: say why, at once
            return 503, f"{refusing}; retry later", {"Retry-After": str(RETRY_AFTER_S)}
        return None

    async def durable(self) -> str | None:
        """With a spool, wait until what was emitted is on disk (as the fsync policy has it); None when it
        is (or there is no spool), else why it is not (answered 503: duplicates are possible)."""
        spool = self.broadcaster.spool
        if spool is None:
            return None
        try:
            await asyncio.wait_for(spool.wait_durable(self.broadcaster.next_position), DURABLE_TIMEOUT_S)
        except SpoolError as exc:  # the disk failed under them: they may be delivered, not promised
            return f"{exc.reason}; retry later (duplicates are possible)"
        except TimeoutError:
            return f"not on disk after {DURABLE_TIMEOUT_S:g}s; retry later (duplicates are possible)"
        return None

    async def _ingest(self, request: web.Request) -> web.Response:
        gate = self.gate(request)
        if gate is not None:
            status, message, headers = gate
            return _json({"error": message}, status, headers)
        if request.content_type not in CONTENT_TYPES:
            return _json({"error": f"unsupported content type {request.content_type!r}; send one of "
                                   f"{', '.join(sorted(CONTENT_TYPES))}"}, 415)
        buffer = self.buffers.take()
        try:
            body = await read_body(request, self.max_body_bytes, self.body_timeout_s, buffer)
        except BodyRefusal as refusal:
            answer = _json({"error": refusal.message}, refusal.status)
            if refusal.close:
                answer.force_close()
            return answer
        try:
            if _BLANK.fullmatch(body):
                return _json({"error": "empty body; send one JSON record, a JSON array, or NDJSON"}, 400)
            result = decode_records(body)  # the records hold no part of the buffer: it can go back
        finally:
            if isinstance(body, memoryview):
                body.release()
            self.buffers.give_back(buffer)
        if result.errors and result.errors[0].index is None:  # the input as a whole did not parse
            errors = [{"index": e.index, "field": e.field, "error": e.reason} for e in result.errors]
            return _json({"accepted": 0, "rejected": 0, "errors": errors}, 400)
        records = result.records
        # Room is checked by the intake rather than the overflow policy: "block" would stall this loop,
        # and the client is better placed than drop_* to decide what to do with a refusal.
        accepted = self.broadcaster.emit_many(records)
        refused = len(records) - accepted
        errors = [{"index": e.index, "field": e.field, "error": e.reason} for e in result.errors[:_MAX_ERRORS_LISTED]]
        if refused:  # the last records did not fit: named by position (only as many as can be listed)
            positions = (_valid_positions(len(records) + len(result.errors), result.errors) if result.errors
                         else range(len(records)))
            errors += [{"index": positions[k], "field": "<record>", "error": "queue full; retry later"}
                       for k in range(accepted, min(len(records), accepted + _MAX_ERRORS_LISTED))]
        if accepted:
            problem = await self.durable()
            if problem is not None:
                return _json({"error": problem}, 503, {"Retry-After": str(RETRY_AFTER_S)})
        self.accepted += accepted
        self.rejected += len(result.errors)
        self.refused += refused
        errors.sort(key=lambda e: e["index"])
        rejected = len(result.errors) + refused
        answer = {"accepted": accepted, "rejected": rejected, "errors": errors[:_MAX_ERRORS_LISTED]}
        if rejected > _MAX_ERRORS_LISTED:
            answer["errors_truncated"] = rejected - _MAX_ERRORS_LISTED
        if refused and not accepted:
            return _json(answer, 503, {"Retry-After": str(RETRY_AFTER_S)})
        return _json(answer, 202)

    async def healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "ok"}, 200)

    async def readyz(self, request: web.Request) -> web.Response:
        ready, why = self.readiness()
        return _json({"ready": ready, "reason": why}, 200 if ready else 503)

    def readiness(self) -> tuple[bool, str]:
        if self.stopping or self.broadcaster.state != "running":
            return False, f"pipeline is {self.broadcaster.state}"
        if not self.broadcaster.lanes:
            return False, "no destination is configured and enabled: records would go nowhere"
        refusing = self.broadcaster.refusing()
        if refusing is not None:
            return False, refusing
        stats = self.broadcaster.destination_stats()
        if stats and all(s.consecutive_failures >= FAILING_AFTER for s in stats.values()):
            return False, f"every destination failed its last {FAILING_AFTER} requests or more"
        if self.broadcaster.spool is not None and self.broadcaster.spool.replaying:
            return True, "ok; replaying older runs from the spool, behind live records"
        return True, "ok"

    async def metrics(self, request: web.Request) -> web.Response:
        if self.mirror is not None:
            self.mirror.sync()  # this worker's values as they are now; the others' at most a second old
        body, content_type = render(self.registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

    def __repr__(self) -> str:
        return (f"<Server {self.url} auth={'on' if self._expected else 'off'} accepted={self.accepted} "
                f"rejected={self.rejected} refused={self.refused}>")


def _valid_positions(total: int, errors: list[Any]) -> list[int]:
    """Input positions of the records that decoded (decode_records keeps their order)."""
    bad = {e.index for e in errors}
    return [i for i in range(total) if i not in bad]


def _json(payload: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json", headers=headers)


#: The cycle collector's thresholds while serving (CPython's defaults: 700, 10, 10). Decoded records are
#: acyclic and live until delivered, so with the defaults the collector walks the queued ones again and
#: again: at 100k queued records that costs more than decoding them (about 3x the decode time, measured).
GC_THRESHOLDS = (50_000, 50, 100)


async def serve(server: Server, announce: Any = None) -> int:
    """Run until SIGTERM or SIGINT, then drain within the shutdown deadline; a second signal exits at once."""
    stop = stop_event(asyncio.get_running_loop(), log)
    await server.start()
    gc.collect()
    gc.freeze()  # what start-up made (modules, configuration) is never garbage: out of every later pass
    gc.set_threshold(*GC_THRESHOLDS)
    if announce is not None:
        announce(server)
    await stop.wait()
    log.info("draining (deadline %.1fs)", server.broadcaster.shutdown_timeout_s)
    await server.stop()  # the broadcaster logs what each destination got, dropped and left in the spool
    return LOST if server.broadcaster.lost_records() else 0
