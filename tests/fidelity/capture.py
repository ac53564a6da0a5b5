"""A local sink that records every request a vendor SDK (or spancast) sends: method, path, headers, decoded body."""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def decode(headers: dict[str, str], raw: bytes) -> Any:
    encoding = headers.get("content-encoding", "")
    if "gzip" in encoding:
        raw = gzip.decompress(raw)
    elif "deflate" in encoding:
        raw = zlib.decompress(raw)
    if "protobuf" in headers.get("content-type", ""):
        return ExportTraceServiceRequest.FromString(raw)
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class Capture:
    """with Capture() as sink: ... sink.requests: [{method, path, headers (lower-case names), body}].

    Every request gets 200 ``{}``, but a path in ``answers``: its function of the sink's URL gives the JSON (an
    SDK that logs in first, as Braintrust's, needs an answer naming where to send next)."""

    def __init__(self, answers: dict[str, Callable[[str], Any]] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        answers = answers or {}
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                capture.requests.append({"method": self.command, "path": self.path, "headers": headers,
                                         "body": decode(headers, raw) if raw else None})
                made = answers.get(self.path.split("?")[0])
                answer = json.dumps(made(capture.url)).encode() if made else b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_PUT = do_GET = do_PATCH = _any

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "Capture":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
