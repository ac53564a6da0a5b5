"""The webhook destination: the same OTLP JSON as the collector, POST or PUT to any URL, static headers.

The headers are the only authentication (as OpenRouter's webhook has it); an HMAC signature over the
body comes with the routing issue.
"""

from __future__ import annotations

from typing import Literal

from .otlp import CONTENT_TYPES, OtlpDestination, check_url
from .base import CommonSettings, Request

__all__ = ["WebhookSettings", "WebhookDestination"]


class WebhookSettings(CommonSettings, kw_only=True, forbid_unknown_fields=True):
    url: str
    method: Literal["POST", "PUT"] = "POST"
    flavor: Literal["gen_ai", "openinference"] = "gen_ai"
    resource: dict[str, object] = {}


class WebhookDestination(OtlpDestination):
    type = "webhook"
    settings_class = WebhookSettings

    def validate(self, where: str) -> None:
        check_url(self.settings.url, f"{where}.url")

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def encoding(self) -> str:
        return "json"  # receivers of webhooks read JSON

    def request(self, body: bytes) -> Request:
        headers = {**self.settings.headers, "Content-Type": CONTENT_TYPES["json"]}
        return Request(self.settings.method, self.url, headers, body)
