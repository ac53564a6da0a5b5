"""Test connection and preview: what a destination would be sent, and whether it takes it.

``check_connection`` sends what OpenRouter's Test Connection sends: an empty OTLP body with
``X-Test-Connection: true`` to webhooks (2xx or 400 passes, since some endpoints refuse empty
bodies), and one ``spancast-connection-test`` span (trace id 000...0001) everywhere else, with the
destination's own URL, headers, encoding and compression. The result says ok or failed, the status,
the latency and a body excerpt, with a hint for the usual mistakes.

``preview`` renders one record exactly as that destination would receive it (routing and privacy
mode applied), with secret header values masked and the body shown as JSON, every credential in it
masked too (PostHog's key travels in the body).

Every excerpt of a receiver's answer (the test's excerpt, its error) goes through
:func:`spancast.scrub.scrub` before it is kept: receivers and proxies echo requests in their errors.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time
from typing import TYPE_CHECKING, Any, Mapping

from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson

from .errors import EncodeError
from .pipeline.transport_http import describe_connection_error
from .pipeline.redis_transport import check_stream
from .probe import OPENROUTER_TEST_NAME, TEST_NAME, TEST_TRACE_ID, ConnectionResult, test_record
from .scrub import QUERY_WORDS, SECRET_WORDS, Scrubber, scrub, secrets_of

if TYPE_CHECKING:
    from .destinations.base import Destination

__all__ = ["ConnectionResult", "check_connection", "preview", "test_record", "mask_headers", "mask_url",
           "TEST_NAME", "OPENROUTER_TEST_NAME", "TEST_TRACE_ID"]

EXCERPT_CHARS = 300


def _hint(destination: Destination, status: int | None, error: str, excerpt: str) -> str:
    said = destination.hint(status, excerpt)  # a destination that knows its receiver's errors better
    if said:
        return said
    if status == 404:
        return ("wrong path or base URL (the URL must be the OTLP traces endpoint), or a self-hosted version"
                " without the OTLP route (Langfuse needs v3.22 or later)")
    if status in (401, 403):
        return "credentials refused: check the key, its scopes, and that it belongs to this project or region"
    if status == 413:
        return "the receiver refused the size of even a one-span request"
    if status == 415:
        return "the receiver does not accept this encoding: try the other (encoding: protobuf or json)"
    if status is not None and status >= 500:
        return "the receiver failed: try again later or check its status page"
    if error.startswith("DNS"):
        return "the host name does not resolve: check the URL for typos"
    if error.startswith("TLS"):
        return "the TLS handshake failed: a self-signed or expired certificate, or http:// vs https://"
    if error.startswith("connection refused"):
        return "nothing listens there: check the host and port"
    if error.startswith("timeout"):
        return "no answer in time: a firewall, a wrong port, or a stalled receiver"
    return ""


async def check_connection(destination: Destination, timeout_s: float = 10.0,
                           session: aiohttp.ClientSession | None = None) -> ConnectionResult:
    """Send the connection test to one destination and say how it went (never raises for network errors)."""
    if destination.transport == "file":
        return _check_file(destination)
    if destination.transport == "redis":  # PING, and the key is a stream or absent
        result = await check_stream(destination, timeout_s)
        return dataclasses.replace(result, excerpt=scrub(result.excerpt, destination), error=scrub(result.error, destination))
    # The probe is compressed and built like any request: a signature in it covers the bytes sent.
    request, also_ok = destination.test_request()
    body = request.body
    headers = dict(request.headers)
    own = session is None
    if own:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))
    start = time.monotonic()
    status: int | None = None
    excerpt = error = said = ""
    try:
        async with session.request(request.method, request.url, data=body, headers=headers) as resp:
            status = resp.status
            said = (await resp.content.read(4096)).decode("utf-8", "replace")
            # scrubbed before it is cut: a secret cut in two would keep its start
            excerpt = scrub(said, destination, headers, request.url)[:EXCERPT_CHARS].strip()
    except (asyncio.TimeoutError, TimeoutError):
        error = f"timeout after {timeout_s:g}s"
    except ssl.SSLError as exc:
        error = f"TLS: {type(exc).__name__}"
    except (aiohttp.ClientError, OSError) as exc:
        error = scrub(describe_connection_error(exc), destination, headers, request.url)
    finally:
        if own:
            await session.close()
    latency = time.monotonic() - start
    ok = status is not None and (200 <= status < 300 or status in also_ok)
    # a receiver that accepts the probe but says in its answer that rows would not go in (BigQuery's insertErrors)
    refused = destination.test_refusal(status, said) if ok else None
    if refused:
        return ConnectionResult(destination.name, False, status, latency, excerpt, error, refused)
    return ConnectionResult(destination.name, ok, status, latency, excerpt, error, "" if ok else _hint(destination, status, error, excerpt))


def _check_file(destination: Destination) -> ConnectionResult:
    """A file destination passes when its directory can be created and its file opened for appending
    (nothing is written: the file holds records only)."""
    start = time.monotonic()
    path = destination.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):
            pass
    except OSError as exc:
        return ConnectionResult(destination.name, False, None, time.monotonic() - start,
                                error=f"cannot append to {path}: {exc.strerror or exc}",
                                hint="check the directory setting and its permissions")
    return ConnectionResult(destination.name, True, None, time.monotonic() - start, excerpt=f"appends to {path}")


def mask_headers(headers: Mapping[str, str], secret_names: frozenset[str] = frozenset()) -> dict[str, str]:
    """The headers with every credential value replaced (an auth scheme word is kept: "Basic ***")."""
    out = {}
    for name, value in headers.items():
        low = name.lower()
        if low in secret_names or any(word in low for word in SECRET_WORDS):
            scheme, sep, _ = value.partition(" ")
            out[name] = f"{scheme} ***" if sep and scheme in ("Basic", "Bearer", "ApiKey", "sentry") else "***"
        else:
            out[name] = value
    return out


def mask_url(url: str) -> str:
    """The URL with its user info and the values of credential-like query parameters masked."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if parts.netloc != netloc:
        netloc = "***@" + netloc
    query = "&".join(
        f"{name}=***" if any(word in name.lower() for word in QUERY_WORDS) else
        (f"{name}={value}" if sep else name)
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def preview(destination: Destination, record: Any) -> dict[str, Any]:
    """The request this destination would receive for this record (routing and privacy mode applied): its
    URL and headers as sent (compressed, signed), its body shown before compression."""
    records, filtered, sampled_out = destination.route.select([record])
    if not records:
        return {"destination": destination.name, "sent": False,
                "reason": "filtered out" if filtered else "sampled out"}
    encoder = destination.new_encoder()
    try:
        encoder.extend(records)
    except EncodeError as exc:  # the destination refuses this record (a bad value, or too old for Datadog)
        return {"destination": destination.name, "sent": False, "reason": f"refused: {exc}"}
    payload = destination.preview_payload(destination.payloads(encoder.finish(), records))
    request = destination.wire_request(payload)
    raw = bytes(payload.body)
    headers = dict(request.headers)
    shown = headers.get("Content-Type") or ("application/x-ndjson" if destination.transport in ("file", "redis") else "")
    if "ndjson" in shown or "jsonl" in shown:  # one document per line (rows, event streams)
        body = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
        note = "one JSON document per line, shown as a list"
    elif "json" in shown:
        body = orjson.loads(raw)
        note = ""
    elif "protobuf" in shown:  # show the same content as OTLP JSON, which the JSON twin of this rendering writes
        json_encoder = destination.new_encoder(format="json")
        json_encoder.extend(records)
        body = orjson.loads(json_encoder.finish())
        note = f"sent as {shown} ({len(raw)} bytes before compression); shown as its OTLP JSON equivalent"
    else:
        body = raw.decode("utf-8", "replace")
        note = f"sent as {shown or 'no content type'}; shown as text"
    # The user's own headers are mostly credentials (x-honeycomb-team, uptrace-dsn, ...): all masked.
    secret_names = destination.secret_headers | {name.lower() for name in destination.settings.headers}
    # Credentials can travel in the body too (PostHog's project key) or in a URL: every string is scrubbed.
    scrubber = Scrubber(secrets_of(destination, request.headers, request.url), partial=False)
    out = {"destination": destination.name, "sent": True, "method": request.method,
           "url": scrubber(mask_url(request.url)), "headers": mask_headers(headers, secret_names),
           "body": _scrub_json(body, scrubber)}
    own_note = destination.preview_note()  # what the lines become (Redis: one XADD each)
    if own_note:
        note = f"{note}; {own_note}" if note else own_note
    if note:
        out["note"] = note
    return out


def _scrub_json(value: Any, scrubber: Scrubber) -> Any:
    """A JSON document with every string (keys included) scrubbed."""
    if isinstance(value, str):
        return scrubber(value)
    if isinstance(value, list):
        return [_scrub_json(item, scrubber) for item in value]
    if isinstance(value, dict):
        return {scrubber(k): _scrub_json(v, scrubber) for k, v in value.items()}
    return value
