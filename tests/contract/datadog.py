"""Contract data for datadog: a config aimed at a local fake backend, and what the real service checks.

The suite's records start in November 2024, far past Datadog's 24 h window, so the config turns the
age check off (maxAgeS: null); tests/test_events_api.py covers the check itself.
"""

import json

API_KEY = "dd0c5e8a1f4b7d2e9c6a3f0b8d5e2a71"
SECRETS = (API_KEY,)
PATH = "/api/intake/llm-obs/v1/trace/spans"
METHOD = "POST"
CONTENT_TYPE = "application/json"
BODY = "events"
ML_APP = "contract-app"


def config(base_url: str, **extra) -> dict:
    return {"type": "datadog", "baseUrl": base_url, "apiKey": API_KEY, "mlApp": ML_APP, "maxAgeS": None, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    if _get(headers, "dd-api-key") != API_KEY:
        return "DD-API-KEY missing or wrong"
    return None


_REQUIRED = ("name", "span_id", "trace_id", "parent_id", "start_ns", "duration", "meta")


def decode(body: bytes, content_type: str) -> list[str]:
    """The generation ids (meta.metadata.generation_id of the llm spans); ValueError where Datadog would refuse."""
    doc = json.loads(body)
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict) or data.get("type") != "span" or not isinstance(data.get("attributes"), dict):
        raise ValueError("expected {data: {type: span, attributes: {...}}}")
    attrs = data["attributes"]
    if attrs.get("ml_app") != ML_APP or not isinstance(attrs.get("spans"), list):
        raise ValueError("attributes.ml_app or attributes.spans missing")
    ids = []
    for span in attrs["spans"]:
        missing = [key for key in _REQUIRED if key not in span]
        if missing:
            raise ValueError(f"span without {', '.join(missing)}")
        if not isinstance(span["start_ns"], int) or not isinstance(span["duration"], (int, float)):
            raise ValueError("start_ns / duration are not numbers")
        meta = span["meta"]
        if not isinstance(meta, dict) or meta.get("kind") not in ("llm", "workflow", "agent", "tool", "task",
                                                                    "embedding", "retrieval"):
            raise ValueError("meta.kind missing or unknown")
        for value in (meta.get("metadata") or {}).values():
            if not isinstance(value, (str, int, float, bool)):
                raise ValueError("metadata values are strings, numbers or booleans")
        if meta["kind"] == "llm":
            for side in ("input", "output"):
                if side in meta and "value" in meta[side]:
                    raise ValueError("llm spans can only have IO messages, not value")
            ids.append(meta["metadata"]["generation_id"])
    return ids
