"""Contract data for phoenix: a config aimed at a local fake backend, and what the real server checks."""

API_KEY = "phx-contract-3f9a1c7e5b"
SECRETS = (API_KEY,)
PATH = "/v1/traces"
METHOD = "POST"
CONTENT_TYPE = "application/x-protobuf"  # Phoenix answers 415 to JSON
BODY = "otlp"


def config(base_url: str, **extra) -> dict:
    return {"type": "phoenix", "endpoint": base_url, "project": "contract", "apiKey": API_KEY, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    if _get(headers, "authorization") != f"Bearer {API_KEY}":
        return "Authorization must be Bearer <apiKey>"
    if _get(headers, "x-project-name") != "contract":
        return "x-project-name must name the project"
    return None
