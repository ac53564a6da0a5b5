"""New Relic (``newrelic``): OTLP/HTTP protobuf to New Relic's OTLP endpoint, license key header, size limits.

Settings, as OpenRouter names them: ``licenseKey`` (required: the account's ingest license key),
``region`` (``us`` default, or ``eu``), ``headers``. Plus spancast's ``endpoint`` (optional: a base URL
that replaces the region's host, for a proxy or a test receiver; ``/v1/traces`` is appended),
``encoding`` and ``resource``.

Wire, and what each part rests on (New Relic, "New Relic OTLP endpoint",
https://docs.newrelic.com/docs/opentelemetry/best-practices/opentelemetry-otlp/):

- URL: ``https://otlp.nr-data.net/v1/traces`` (US) or ``https://otlp.eu01.nr-data.net/v1/traces`` (EU).
- Auth: ``api-key: <licenseKey>``.
- Encoding: protobuf by default: New Relic accepts every OTLP variant but recommends OTLP/HTTP binary
  protobuf. ``encoding: json`` switches.
- Limits (same page, "attribute limits" and "payload size"): attribute values of at most 4095
  characters, payloads of at most 1 MB. Every string attribute value (the JSON of gen_ai.prompt /
  gen_ai.completion too) is cut to 4095 code points by the encoder, and batches are capped at
  1,000,000 bytes before compression (the limit is on the compressed payload, so this is on the safe
  side). New Relic reports payload problems asynchronously as ``NrIntegrationError`` events.
- Attributes: the ``gen_ai`` flavour (``trace.metadata.*``, ``user.id``, ``session.id``, ``gen_ai.*``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from ._preset import OtlpPreset, PresetSettings, join_url
from ._secret import check_header_value
from .base import Destination, Secret
from .otlp import check_url

__all__ = ["NewRelicSettings", "NewRelicDestination", "REGION_URLS", "MAX_VALUE_CHARS", "MAX_BATCH_BYTES"]

REGION_URLS = {"us": "https://otlp.nr-data.net", "eu": "https://otlp.eu01.nr-data.net"}
MAX_VALUE_CHARS = 4095
MAX_BATCH_BYTES = 1_000_000


class NewRelicSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    license_key: Annotated[Secret, msgspec.Meta(description="the account's ingest license key (sent as api-key)")]
    region: Annotated[Literal["us", "eu"], msgspec.Meta(
        description="New Relic data center: us (otlp.nr-data.net) or eu (otlp.eu01.nr-data.net)",
    )] = "us"
    endpoint: Annotated[str | None, msgspec.Meta(
        description="base URL used instead of the region's host (proxy, test receiver); /v1/traces appended",
    )] = None


class NewRelicDestination(OtlpPreset):
    """Spans to New Relic, values and batches kept inside its limits."""

    type = "newrelic"
    settings_class = NewRelicSettings
    secret_headers = Destination.secret_headers | {"api-key"}
    max_value_chars = MAX_VALUE_CHARS
    max_batch_bytes = MAX_BATCH_BYTES

    def validate(self, where: str) -> None:
        if self.settings.endpoint is not None:
            check_url(self.settings.endpoint, f"{where}.endpoint")
        check_header_value(self.settings.license_key, f"{where}.licenseKey")

    @property
    def base_url(self) -> str:
        return self.settings.endpoint or REGION_URLS[self.settings.region]

    @property
    def url(self) -> str:
        return join_url(self.base_url, self.path)

    def auth_headers(self) -> dict[str, str]:
        return {"api-key": self.settings.license_key}
