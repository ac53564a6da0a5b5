"""The webhook destination: the same OTLP JSON as the collector, POST or PUT to any URL, static headers, optional HMAC.

As OpenRouter has it (https://openrouter.ai/docs/guides/features/broadcast/webhook): ``url`` (required),
``method`` (``POST`` default, or ``PUT``), ``headers`` (the only authentication OpenRouter offers: a
static secret header the receiver compares). The body is always an OTLP JSON
ExportTraceServiceRequest (``Content-Type: application/json``): webhook receivers read JSON.

Beyond OpenRouter: ``signingSecret`` (``signing_secret``; a credential, shown as ``'***'``). When set,
each request carries ``X-Spancast-Signature: sha256=<hex>``, the HMAC-SHA256 of the request body under
that secret. It is computed over the exact bytes on the wire, **after compression** (gzip or zstd, named
in Content-Encoding): a receiver verifies the raw body it read, before it decompresses anything, and not
re-serialised JSON::

    import hashlib, hmac
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, request.headers.get("X-Spancast-Signature", ""))

Test Connection (``test_payload``) sends what OpenRouter's does: an empty OTLP body
(``{"resourceSpans":[]}``, signed like any other) with ``X-Test-Connection: true``; 2xx or 400 passes.

The signature proves who sent the body, not when: a replayed request verifies again, so receivers that
care dedupe (redelivery happens anyway; spans carry stable ids).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Literal

import msgspec

from ._secret import check_header_value, merge_headers
from .base import CommonSettings, Payload, Request, Secret
from .otlp import CONTENT_TYPES, FLAVOR_HELP, OtlpDestination, check_url

__all__ = ["WebhookSettings", "WebhookDestination", "SIGNATURE_HEADER", "sign"]

SIGNATURE_HEADER = "X-Spancast-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for a body: ``sha256=`` and the hex HMAC-SHA256 under the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSettings(CommonSettings, kw_only=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(description="the http(s) URL the OTLP JSON is sent to, as is")]
    method: Annotated[Literal["POST", "PUT"], msgspec.Meta(description="HTTP method: POST or PUT")] = "POST"
    flavor: Annotated[Literal["gen_ai", "openinference", "openrouter"], msgspec.Meta(
        description=FLAVOR_HELP,
    )] = "gen_ai"
    resource: Annotated[dict[str, object], msgspec.Meta(
        description="extra OTLP resource attributes on every request (service.name defaults to spancast)",
    )] = {}
    signing_secret: Annotated[Secret | None, msgspec.Meta(
        description="HMAC-SHA256 key: each body, as sent (after compression), is signed in X-Spancast-Signature",
    )] = None



class WebhookDestination(OtlpDestination):
    type = "webhook"
    settings_class = WebhookSettings
    secret_headers = frozenset({"authorization", "x-spancast-signature"})

    def validate(self, where: str) -> None:
        check_url(self.settings.url, f"{where}.url")
        if self.settings.signing_secret is not None:
            check_header_value(self.settings.signing_secret, f"{where}.signingSecret")
        # Static headers are a webhook's authentication: mask every one of them in previews and logs.
        names = {name.lower() for name in self.settings.headers}
        self.secret_headers = type(self).secret_headers | names  # type: ignore[misc]

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def encoding(self) -> str:
        return "json"  # receivers of webhooks read JSON

    def test_payload(self) -> tuple[Payload, frozenset[int]]:
        """OpenRouter's webhook test: an empty OTLP body with ``X-Test-Connection: true`` (signed like any
        other request); 2xx passes, and so does 400, since some endpoints refuse empty bodies."""
        return Payload(self.new_encoder().finish(), headers={"X-Test-Connection": "true"}), frozenset({400})

    def request(self, body: bytes) -> Request:
        """The request for body as sent: the signature covers these exact bytes (compressed, when on)."""
        own = {"Content-Type": CONTENT_TYPES["json"]}
        if self.settings.signing_secret is not None:
            own[SIGNATURE_HEADER] = sign(self.settings.signing_secret, body)
        return Request(self.settings.method, self.url, merge_headers(self.settings.headers, own), body)
