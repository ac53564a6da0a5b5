"""Contract data for raindrop: a config aimed at a local fake backend, and what the real service checks."""

import json

WRITE_KEY = "rd_wk_contract_5e1a9c7d3f20b864"
SECRETS = (WRITE_KEY,)
PATH = "/v1/events/track"
METHOD = "POST"
CONTENT_TYPE = "application/json"
BODY = "events"


def config(base_url: str, **extra) -> dict:
    return {"type": "raindrop", "baseUrl": base_url, "writeKey": WRITE_KEY, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    if _get(headers, "authorization") != f"Bearer {WRITE_KEY}":
        return "Authorization: Bearer <write key> missing or wrong"
    return None


def decode(body: bytes, content_type: str) -> list[str]:
    """The generation ids (event_id) of a track body; ValueError where Raindrop would refuse it."""
    events = json.loads(body)
    if not isinstance(events, list):
        raise ValueError("expected a JSON array of events")
    ids = []
    for event in events:
        if not isinstance(event, dict):
            raise ValueError("expected an event object")
        for key in ("event_id", "user_id", "event"):
            if not isinstance(event.get(key), str) or not event[key]:
                raise ValueError(f"{key} missing or empty")
        if "properties" in event and not isinstance(event["properties"], dict):
            raise ValueError("properties is not an object")
        ai = event.get("ai_data")
        if ai is not None and (not isinstance(ai, dict) or ("input" not in ai and "output" not in ai)):
            raise ValueError("ai_data needs input or output")
        ids.append(event["event_id"])
    return ids
