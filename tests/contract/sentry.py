"""Contract data for sentry: a config aimed at a local fake backend, and what the real service checks."""

PUBLIC_KEY = "a785682ddda719b7a8a4011110d75598"
DSN = f"https://{PUBLIC_KEY}@o4504765715316736.ingest.us.sentry.io/4505281256090153"
SECRETS = (DSN, PUBLIC_KEY)
PATH = "/api/4505281256090153/integration/otlp/v1/traces"
METHOD = "POST"
CONTENT_TYPE = "application/x-protobuf"
BODY = "otlp"


def config(base_url: str, **extra) -> dict:
    # otlpEndpoint is the full traces URL, POSTed to as given.
    return {"type": "sentry", "otlpEndpoint": base_url + PATH, "dsn": DSN, **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    if _get(headers, "x-sentry-auth") != f"sentry sentry_key={PUBLIC_KEY}":
        return "x-sentry-auth must be 'sentry sentry_key=<public key of the DSN>'"
    return None
