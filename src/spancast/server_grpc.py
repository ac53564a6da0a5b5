"""OTLP/gRPC trace ingest for spancast serve (the grpc extra): TraceService/Export on server.grpc_port.

The same as POST /v1/traces (server_otlp.py's TraceRoute.take: the mapping, the intake check, the
spool's durability, the counts), answered as OTLP/gRPC requires: an ExportTraceServiceResponse whose
partial success names the spans that could not be used; UNAUTHENTICATED for a missing or wrong
``authorization: Bearer ...`` metadata entry (when a token is set), INVALID_ARGUMENT for a message that
is no ExportTraceServiceRequest, UNAVAILABLE while shutting down, while the spool cannot take records
and when the intake has no room (OTLP exporters retry those), RESOURCE_EXHAUSTED over
server.max_body_bytes (gRPC's own limit, after decompression; gzip is gRPC's). Messages are taken as
bytes (no generated stubs): the request is parsed once, by ingest/otlp_proto.py. With --workers, each
worker listens on the port too (gRPC sets SO_REUSEPORT).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from .errors import ListenError

__all__ = ["GrpcIngest", "MISSING", "available"]

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
MISSING = "server.grpc_port needs the grpc extra: pip install 'spancast[grpc]'"
PROTOBUF = "application/x-protobuf"
GRACE_S = 1.0  # in-flight calls get this long to finish when serve stops taking requests

try:
    import grpc
    from grpc import aio
except ImportError:  # the extra is not installed
    grpc = None  # type: ignore[assignment]


def available() -> bool:
    return grpc is not None


class GrpcIngest:
    """The gRPC server of one Server, on its loop."""

    def __init__(self, server: Any, host: str, port: int) -> None:
        if grpc is None:
            raise RuntimeError(MISSING)
        self.server, self.host, self.port = server, host, port
        self.calls = 0
        self._grpc: Any = None

    async def start(self) -> None:
        limit = self.server.max_body_bytes
        self._grpc = aio.server(options=[("grpc.max_receive_message_length", limit), ("grpc.so_reuseport", 1)])
        handler = grpc.method_handlers_generic_handler(SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(self.export)})
        self._grpc.add_generic_rpc_handlers((handler,))
        address = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        try:
            bound = self._grpc.add_insecure_port(address)
        except RuntimeError as exc:  # grpc says only that it failed to bind
            raise ListenError(self.host, self.port, f"gRPC: {exc}") from None
        self.port = bound
        await self._grpc.start()

    async def stop(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop(GRACE_S)
            self._grpc = None

    async def export(self, request: bytes, context: Any) -> bytes:
        self.calls += 1
        server = self.server
        expected = server._expected
        if expected is not None:
            given = dict(context.invocation_metadata() or ()).get("authorization", "")
            if not hmac.compare_digest(given.encode(), expected):
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        if server.stopping or server.broadcaster.state != "running":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "shutting down")
        refusing = server.broadcaster.refusing()
        if refusing is not None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{refusing}; retry later")
        try:
            status, message, rejected, _ = await server.traces.take(request, PROTOBUF)
        except Exception as exc:  # a bug: INTERNAL for the client, one log line per cause and minute
            server._log(logging.ERROR, "grpc:" + type(exc).__name__, "spancast: OTLP/gRPC Export failed: %s: %s",
                        type(exc).__name__, str(exc)[:200])
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); the spans were not taken")
        if status == 400:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
        if status != 200:
            await context.abort(grpc.StatusCode.UNAVAILABLE, message)
        from .server_otlp import success_body

        return success_body(PROTOBUF, rejected, message)

    def __repr__(self) -> str:
        return f"<GrpcIngest {self.host}:{self.port} calls={self.calls}>"
