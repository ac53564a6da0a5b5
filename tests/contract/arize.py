"""Contract data for arize: a config aimed at a local fake backend, and what the real service checks."""

SECRETS = ("ak-contract-arize-3f9e51d07c", "U3BhY2U6Y29udHJhY3Q6c2VjcmV0")  # apiKey, spaceKey
PATH = "/v1/traces"
METHOD = "POST"
CONTENT_TYPE = "application/x-protobuf"
BODY = "otlp"


def config(base_url: str, **extra) -> dict:
    return {"type": "arize", "apiKey": SECRETS[0], "spaceKey": SECRETS[1], "modelId": "contract-project",
            "baseUrl": base_url, **extra}


def _get(headers, *names: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() in names), None)


def check_auth(headers) -> str | None:
    # arize-otel sends authorization + arize-space-id (and the deprecated api_key / space_id, still accepted).
    if _get(headers, "authorization", "api_key") != SECRETS[0]:
        return "authorization must be the API key (no Bearer)"
    if _get(headers, "arize-space-id", "space_id") != SECRETS[1]:
        return "arize-space-id must be the space key"
    return None
