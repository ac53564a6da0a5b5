"""Contract data for posthog: a config aimed at a local fake backend, and what the real service checks.

PostHog's batch endpoint takes no auth header: the project key rides in the body, and decode() checks
it as PostHog does (a wrong key is refused). That key is public by PostHog's design, fine to send, but
never printed: previews mask it like the other secret here, a reverse proxy's token header (PostHog
documents running capture behind your own proxy), which every repr, log line, error and preview must hide.
"""

import json
import uuid

API_KEY = "phc_contract_7Hq2mVx9LkP3sWd8"  # public write-only project key: in the body by protocol, never printed
PROXY_TOKEN = "proxy-contract-4b9e61d2c7f3a805"
SECRETS = (PROXY_TOKEN, API_KEY)
PATH = "/batch/"
METHOD = "POST"
CONTENT_TYPE = "application/json"
BODY = "events"


def config(base_url: str, **extra) -> dict:
    return {"type": "posthog", "endpoint": base_url, "apiKey": API_KEY,
            "headers": {"X-Proxy-Token": PROXY_TOKEN}, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    # PostHog itself reads no auth header; the proxy in front of it (the fake stands for both) wants its token.
    if _get(headers, "x-proxy-token") != PROXY_TOKEN:
        return "X-Proxy-Token missing or wrong"
    return None


def decode(body: bytes, content_type: str) -> list[str]:
    """The generation ids ($ai_span_id) of a /batch/ body; ValueError where PostHog would refuse it."""
    doc = json.loads(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("batch"), list):
        raise ValueError("expected {api_key, batch: [...]}")
    if doc.get("api_key") != API_KEY:
        raise ValueError("api_key missing or wrong")
    ids = []
    for event in doc["batch"]:
        if not isinstance(event, dict) or event.get("event") != "$ai_generation":
            raise ValueError(f"expected a $ai_generation event, got {event!r:.80}")
        if not isinstance(event.get("distinct_id"), str) or not event["distinct_id"]:
            raise ValueError("distinct_id missing or empty")
        props = event.get("properties")
        if not isinstance(props, dict) or not isinstance(props.get("$ai_trace_id"), str):
            raise ValueError("properties.$ai_trace_id missing")
        if not isinstance(event.get("timestamp"), str):
            raise ValueError("timestamp missing")
        uuid.UUID(event.get("uuid") or "")  # ValueError when missing or malformed
        ids.append(props["$ai_span_id"])
    return ids
