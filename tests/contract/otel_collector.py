"""Contract data for otel-collector: a config aimed at a local fake backend, and what the real service checks."""

SECRETS = ("xaat-contract-collector-4c8e19f2a7",)
PATH = "/v1/traces"
METHOD = "POST"
CONTENT_TYPE = "application/x-protobuf"  # spancast's default for the generic destination (OpenRouter sends JSON)
BODY = "otlp"


def config(base_url: str, **extra) -> dict:
    return {"type": "otel-collector", "endpoint": base_url + PATH,
            "headers": {"Authorization": f"Bearer {SECRETS[0]}"}, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    # A collector (or Axiom, Honeycomb...) behind a bearer token: whatever the user put in headers.
    if _get(headers, "authorization") != f"Bearer {SECRETS[0]}":
        return "Authorization must be the configured Bearer token"
    return None
