"""Contract data for ramp: a config aimed at a local fake backend, and what the real service checks."""

SECRETS = ("rk-contract-ramp-7d41c0e9b2",)
PATH = "/developer/v1/ai-usage/openrouter"  # the default base URL's path: Ramp's partner endpoint, posted to as is
METHOD = "POST"
CONTENT_TYPE = "application/json"
BODY = "otlp"


def config(base_url: str, **extra) -> dict:
    return {"type": "ramp", "apiKey": SECRETS[0], "baseUrl": base_url + PATH, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    # Undocumented by Ramp and OpenRouter; Bearer is what Ramp's developer API uses (spancast.destinations.ramp).
    if _get(headers, "authorization") != f"Bearer {SECRETS[0]}":
        return "Authorization must be 'Bearer <apiKey>'"
    return None
