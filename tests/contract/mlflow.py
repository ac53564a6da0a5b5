"""Contract data for mlflow: a config aimed at a local fake backend, and what the real server checks."""

TOKEN = "mlflow-contract-8d21b4f07a"
SECRETS = (TOKEN,)
PATH = "/v1/traces"
METHOD = "POST"
CONTENT_TYPE = "application/x-protobuf"
BODY = "otlp"


def config(base_url: str, **extra) -> dict:
    return {"type": "mlflow", "trackingUri": base_url, "experimentId": "7", "token": TOKEN, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    # mlflow/server/otel_api.py: the experiment header is required (422 without it)
    if _get(headers, "x-mlflow-experiment-id") != "7":
        return "x-mlflow-experiment-id must be the experiment's id"
    if _get(headers, "authorization") != f"Bearer {TOKEN}":
        return "Authorization must be Bearer <token>"
    return None
