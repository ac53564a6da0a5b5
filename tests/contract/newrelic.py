"""Contract data for newrelic: a config aimed at a local fake backend, and what the real service checks."""

LICENSE_KEY = "eu01xxcontract4f8a2c6e1b9d0a3f7NRAL"
SECRETS = (LICENSE_KEY,)
PATH = "/v1/traces"
METHOD = "POST"
CONTENT_TYPE = "application/x-protobuf"
BODY = "otlp"


def config(base_url: str, **extra) -> dict:
    # endpoint replaces the region's host (documented for proxies); /v1/traces is appended.
    return {"type": "newrelic", "licenseKey": LICENSE_KEY, "region": "eu", "endpoint": base_url, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    if _get(headers, "api-key") != LICENSE_KEY:
        return "api-key must be the license key"
    return None
