"""Langfuse (``langfuse``): OTLP/HTTP to Langfuse's OpenTelemetry route, Basic auth, the ``langfuse`` flavour.

Settings, as OpenRouter names them: ``publicKey`` and ``secretKey`` (required; the project's API key
pair), ``baseUrl`` (default ``https://us.cloud.langfuse.com``; ``https://cloud.langfuse.com`` for EU,
or a self-hosted instance, v3.22 or later), ``headers``. Plus spancast's ``ingestionVersion``
(optional; only ``4``), ``encoding`` and ``resource``.

Wire, and what each part rests on (Langfuse, "OpenTelemetry (OTEL) for LLM Observability",
https://langfuse.com/integrations/native/opentelemetry, and its public API reference for
``POST /api/public/otel/v1/traces``):

- URL: ``<baseUrl>/api/public/otel/v1/traces``; a base ending in ``/api/public/otel`` (the
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` Langfuse shows) is accepted too.
- Auth: ``Authorization: Basic base64(<publicKey>:<secretKey>)``.
- ``x-langfuse-ingestion-version: 4`` when ``ingestionVersion: 4`` is set: Langfuse's real-time
  ingestion path (its API docs say direct OTel exporters should send it); a higher value is a 400
  there, so only 4 is accepted. Off by default, as OpenRouter sends it.
- Encoding: protobuf by default; the route takes ``application/x-protobuf`` and ``application/json``
  (optionally gzip). ``encoding: json`` switches.
- Attributes: the ``langfuse`` flavour: gen_ai plus ``langfuse.observation.type`` (``generation``;
  ``span`` on the span_name span), ``langfuse.trace.name`` (trace_name), ``langfuse.user.id``,
  ``langfuse.session.id``, ``langfuse.environment`` / ``deployment.environment`` and
  ``langfuse.release`` (trace keys ``environment`` / ``release``), ``langfuse.trace.metadata.<key>``.
  OpenRouter also sends environment/release as resource attributes; one request here carries many
  records under one resource, so per-record values can only be span attributes (Langfuse reads them
  there too). A fixed environment for every record can be given as ``resource``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from ._preset import OtlpPreset, PresetSettings, basic_auth
from ._secret import check_header_value
from .base import Secret

__all__ = ["LangfuseSettings", "LangfuseDestination", "DEFAULT_URL"]

DEFAULT_URL = "https://us.cloud.langfuse.com"


class LangfuseSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    public_key: Annotated[Secret, msgspec.Meta(description="Langfuse project's public key (pk-lf-...)")]
    secret_key: Annotated[Secret, msgspec.Meta(description="Langfuse project's secret key (sk-lf-...)")]
    base_url: Annotated[str, msgspec.Meta(
        description="Langfuse host: https://cloud.langfuse.com for EU, or a self-hosted v3.22+ instance",
    )] = DEFAULT_URL
    ingestion_version: Annotated[Literal[4] | None, msgspec.Meta(
        description="4 sends x-langfuse-ingestion-version: 4 (real-time ingestion, what Langfuse's SDK sends); none: not sent",
    )] = 4


class LangfuseDestination(OtlpPreset):
    """Generations as Langfuse observations, through its OTLP route."""

    type = "langfuse"
    settings_class = LangfuseSettings
    path = "/api/public/otel/v1/traces"
    flavor = "langfuse"

    def check(self, where: str) -> None:
        check_header_value(self.settings.public_key, f"{where}.publicKey")
        check_header_value(self.settings.secret_key, f"{where}.secretKey")

    def auth_headers(self) -> dict[str, str]:
        s = self.settings
        headers = {"Authorization": basic_auth(s.public_key, s.secret_key)}
        if s.ingestion_version is not None:
            headers["x-langfuse-ingestion-version"] = str(s.ingestion_version)
        return headers
