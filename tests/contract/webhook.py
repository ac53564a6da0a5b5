"""Contract data for webhook: a config aimed at a local fake backend, and what the real service checks."""

import re

SECRETS = ("whk-static-contract-92d4b7e1c0", "whsec-contract-signing-6a3f0e8d21")  # static header, signing secret
PATH = "/hooks/openrouter"
METHOD = "POST"
CONTENT_TYPE = "application/json"
BODY = "otlp"
_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")


def config(base_url: str, **extra) -> dict:
    return {"type": "webhook", "url": base_url + PATH, "headers": {"X-Webhook-Token": SECRETS[0]},
            "signingSecret": SECRETS[1], **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    # The receiver's own rule: the static secret header, plus a well-formed HMAC signature (the fake sees no
    # body here; tests/test_presets_otlp2.py verifies the signature against the body).
    if _get(headers, "x-webhook-token") != SECRETS[0]:
        return "X-Webhook-Token missing or wrong"
    if not _SIGNATURE.fullmatch(_get(headers, "x-spancast-signature") or ""):
        return "X-Spancast-Signature must be sha256=<64 hex>"
    return None
