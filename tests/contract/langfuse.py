"""Contract data for langfuse: a config aimed at a local fake backend, and what the real service checks."""

import base64

PUBLIC_KEY = "pk-lf-contract-5b2c8e0a9d14"
SECRET_KEY = "sk-lf-contract-e73f1a6c0b58"
SECRETS = (PUBLIC_KEY, SECRET_KEY, base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode())
PATH = "/api/public/otel/v1/traces"
METHOD = "POST"
CONTENT_TYPE = "application/x-protobuf"
BODY = "otlp"


def config(base_url: str, **extra) -> dict:
    return {"type": "langfuse", "baseUrl": base_url, "publicKey": PUBLIC_KEY, "secretKey": SECRET_KEY, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    # Basic auth with the project's key pair; the ingestion version header, when sent, must be 4 or less.
    expected = "Basic " + SECRETS[2]
    if _get(headers, "authorization") != expected:
        return "Authorization must be Basic base64(publicKey:secretKey)"
    version = _get(headers, "x-langfuse-ingestion-version")
    if version is not None and (not version.isdigit() or int(version) > 4):
        return "x-langfuse-ingestion-version above 4"
    return None
