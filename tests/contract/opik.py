"""Contract data for opik: a config aimed at a local fake backend, and what the real service checks."""

SECRETS = ("opik_contract_5b0d93e1f4a7",)
PATH = "/opik/api/v1/private/otel/v1/traces"  # Comet's cloud: https://www.comet.com/opik/api/v1/private/otel/v1/traces
METHOD = "POST"
CONTENT_TYPE = "application/x-protobuf"
BODY = "otlp"
WORKSPACE = "contract-workspace"
PROJECT = "contract-project"


def config(base_url: str, **extra) -> dict:
    return {"type": "opik", "route": "otlp", "apiKey": SECRETS[0], "workspace": WORKSPACE, "projectName": PROJECT,
            "baseUrl": base_url + "/opik/api", **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    if _get(headers, "authorization") != SECRETS[0]:
        return "Authorization must be the API key itself (no Bearer)"
    if _get(headers, "comet-workspace") != WORKSPACE:
        return "Comet-Workspace must name the workspace"
    if _get(headers, "projectname") != PROJECT:  # without it Opik files the spans under "Default Project"
        return "projectName must name the project"
    return None
