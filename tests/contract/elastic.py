"""Contract data for elastic: a config aimed at a local fake backend, and what the real service checks."""

API_KEY = "ZWxhc3RpYy1jb250cmFjdDo5YjE0ZTZhMmM4ZjA="
SECRETS = (API_KEY,)
PATH = "/v1/traces"
METHOD = "POST"
CONTENT_TYPE = "application/x-protobuf"
BODY = "otlp"


def config(base_url: str, **extra) -> dict:
    return {"type": "elastic", "endpoint": base_url, "apiKey": API_KEY, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    if _get(headers, "authorization") != f"ApiKey {API_KEY}":
        return "Authorization must be 'ApiKey <key>'"
    return None
