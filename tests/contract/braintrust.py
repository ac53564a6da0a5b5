"""Contract data for braintrust: a config aimed at a local fake backend, and what the real service checks."""

SECRETS = ("sk-contract-braintrust-a61c4e2d98",)
PATH = "/otel/v1/traces"
METHOD = "POST"
CONTENT_TYPE = "application/x-protobuf"
BODY = "otlp"
PROJECT_ID = "7c1e2a90-contract-project"


def config(base_url: str, **extra) -> dict:
    return {"type": "braintrust", "apiKey": SECRETS[0], "projectId": PROJECT_ID, "baseUrl": base_url, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    if _get(headers, "authorization") != f"Bearer {SECRETS[0]}":
        return "Authorization must be 'Bearer <apiKey>'"
    parent = _get(headers, "x-bt-parent")
    if parent is None or not parent.startswith(("project_id:", "project_name:", "experiment_id:")):
        return "x-bt-parent must name the parent (project_id:<id>)"
    if parent != f"project_id:{PROJECT_ID}":
        return "x-bt-parent names another project"
    return None
