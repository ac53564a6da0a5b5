"""Contract data for weave: a config aimed at a local fake backend, and what the real service checks."""

import base64

SECRETS = ("wandb-contract-0e7f2c9a5b31d846",)
PATH = "/otel/v1/traces"
METHOD = "POST"
CONTENT_TYPE = "application/x-protobuf"  # the only one Weave's OTLP endpoint takes
BODY = "otlp"
ENTITY, PROJECT = "contract-team", "contract-project"


def config(base_url: str, **extra) -> dict:
    return {"type": "weave", "route": "otlp", "apiKey": SECRETS[0], "entity": ENTITY, "project": PROJECT, "baseUrl": base_url,
            **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    basic = "Basic " + base64.b64encode(f"api:{SECRETS[0]}".encode()).decode()
    if _get(headers, "wandb-api-key") != SECRETS[0] and _get(headers, "authorization") != basic:
        return "wandb-api-key (or Basic api:<key>) must carry the API key"
    # The project: this header, or the resource attributes wandb.entity / wandb.project (spancast sends both).
    if _get(headers, "project_id") != f"{ENTITY}/{PROJECT}":
        return "project_id must be <entity>/<project>"
    return None
