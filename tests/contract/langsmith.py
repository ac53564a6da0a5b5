"""Contract data for langsmith: a config aimed at a local fake backend, and what the real service checks."""

API_KEY = "lsv2_pt_contract_0c4d7f2e9a61b8"
SECRETS = (API_KEY,)
PATH = "/otel/v1/traces"
METHOD = "POST"
CONTENT_TYPE = "application/x-protobuf"
BODY = "otlp"
PROJECT = "contract-project"


def config(base_url: str, **extra) -> dict:
    return {"type": "langsmith", "endpoint": base_url, "apiKey": API_KEY, "project": PROJECT, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    # x-api-key authenticates; Langsmith-Project names where the runs land (X-Tenant-Id only with a workspace).
    if _get(headers, "x-api-key") != API_KEY:
        return "x-api-key missing or wrong"
    if _get(headers, "langsmith-project") != PROJECT:
        return "Langsmith-Project missing or wrong"
    return None
