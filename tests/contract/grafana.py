"""Contract data for grafana: a config aimed at a local fake backend, and what the real service checks."""

import base64

INSTANCE_ID = "1234567"
API_KEY = "glc_contract-grafana-7d1e9a4b20f3"
SECRETS = (API_KEY, base64.b64encode(f"{INSTANCE_ID}:{API_KEY}".encode()).decode())  # token, its Basic credential
PATH = "/otlp/v1/traces"
METHOD = "POST"
CONTENT_TYPE = "application/x-protobuf"
BODY = "otlp"


def config(base_url: str, **extra) -> dict:
    return {"type": "grafana", "baseUrl": base_url, "instanceId": INSTANCE_ID, "apiKey": API_KEY, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    # The OTLP gateway: Basic auth, user = the numeric instance id, password = a token with traces:write.
    value = _get(headers, "authorization") or ""
    if not value.startswith("Basic "):
        return "Authorization must be Basic"
    try:
        user, _, password = base64.b64decode(value[6:], validate=True).decode().partition(":")
    except ValueError:
        return "Basic credential is not base64 of user:password"
    if not user.isdigit():
        return "the Basic user must be the numeric instance id"
    if (user, password) != (INSTANCE_ID, API_KEY):
        return "instance id or token wrong"
    return None
