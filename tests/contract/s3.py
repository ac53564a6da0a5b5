"""Contract data for s3: a config aimed at a local fake backend (an S3-compatible endpoint), and what S3 checks.

The contract runs the ``ndjson`` layout: one object (one request) per batch, which the suite's
batch-level checks (429 then 503 then 200, a 413 split into two) assume. The default ``trace``
layout (one object per generation) is covered against moto's S3 in tests/test_s3.py, which also
verifies the SigV4 signatures themselves; here the fake sees headers only, so check_auth checks the
Authorization header's shape, its credential scope and the signed-header list.
"""

import json
import re

BUCKET = "contract-traces"
REGION = "eu-central-1"
ACCESS_KEY_ID = "AKIACONTRACT7Q2W4E6R"  # an identifier, not a secret (it is in every Authorization header)
SECRETS = ("contract/s3cr3t+K3y-8d1f0a9c7e5b3d2f4a6c8e0b", "contract-session-token-FQoGZXIvYXdzE5b1d7")
# Object keys vary (date folders, ids): the fake accepts any path under the bucket's trace prefix.
PATH_PREFIX = f"/{BUCKET}/openrouter-traces/"
PATH = PATH_PREFIX + "*"
METHOD = "PUT"
CONTENT_TYPE = "application/x-ndjson"
BODY = "objects"
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/s3/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=[0-9a-f]{64}"
)
_REQUIRED_SIGNED = {"host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "content-type"}


def config(base_url: str, **extra) -> dict:
    return {"type": "s3", "bucketName": BUCKET, "endpoint": base_url, "region": REGION, "accessKeyId": ACCESS_KEY_ID,
            "secretAccessKey": SECRETS[0], "sessionToken": SECRETS[1], "layout": "ndjson", **extra}


def _get(headers, name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def check_auth(headers) -> str | None:
    found = _AUTH.fullmatch(_get(headers, "authorization") or "")
    if found is None:
        return "Authorization must be AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=<64 hex>"
    if (found["key"], found["region"]) != (ACCESS_KEY_ID, REGION):
        return "the credential scope must name the access key id and the region"
    amz_date = _get(headers, "x-amz-date") or ""
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date) or amz_date[:8] != found["date"]:
        return "X-Amz-Date must be YYYYMMDDTHHMMSSZ on the credential scope's day"
    if not re.fullmatch(r"[0-9a-f]{64}", _get(headers, "x-amz-content-sha256") or ""):
        return "X-Amz-Content-SHA256 must be the payload's SHA-256 (a signed payload)"
    if _get(headers, "x-amz-security-token") != SECRETS[1]:
        return "X-Amz-Security-Token must carry the session token"
    signed = set(found["signed"].split(";"))
    sent_encoding = _get(headers, "content-encoding") is not None
    if not _REQUIRED_SIGNED <= signed or ("content-encoding" in signed) != sent_encoding:
        return f"SignedHeaders must cover {sorted(_REQUIRED_SIGNED)} (and Content-Encoding when sent)"
    return None


def decode(body: bytes, content_type: str) -> list[str]:
    """The generation ids of an NDJSON object: one trace document per line."""
    ids = []
    for line in body.splitlines():
        if not line.strip():
            continue
        doc = json.loads(line)  # a JSONDecodeError is a ValueError
        if not isinstance(doc, dict) or not {"id", "timestamp", "observations"} <= doc.keys():
            raise ValueError("each line must be a trace document with id, timestamp and observations")
        ids += [o["id"] for o in doc["observations"] if o.get("type") == "GENERATION"]
    return ids
