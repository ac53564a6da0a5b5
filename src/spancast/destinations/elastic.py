"""Elastic (``elastic``): OTLP/HTTP to an Elastic Cloud Managed OTLP endpoint, ``ApiKey`` authorization.

Settings: ``endpoint`` (required: the project's or deployment's Managed OTLP endpoint, as shown under
Add data > Applications > OpenTelemetry), ``apiKey`` (required), ``headers``. Plus spancast's
``encoding`` and ``resource``. OpenRouter's Elastic page asks for the same two values; the classic APM
Server intake is not supported, by OpenRouter or here.

Wire, and what each part rests on (Elastic, "Elastic Cloud Managed OTLP Endpoint" and its quickstart,
https://www.elastic.co/docs/reference/opentelemetry/motlp):

- URL: ``<endpoint>/v1/traces``: the endpoint is an ``OTEL_EXPORTER_OTLP_ENDPOINT`` base, to which
  OTLP/HTTP exporters append the signal path (an endpoint already ending in ``/v1/traces`` is used as is).
- Auth: ``Authorization: ApiKey <apiKey>`` (the docs' ``OTEL_EXPORTER_OTLP_HEADERS="Authorization=ApiKey <key>"``).
- Encoding: protobuf by default (the stock OTLP/HTTP exporter the quickstart configures sends
  protobuf; the endpoint is an OTLP receiver and takes JSON too). ``encoding: json`` switches.
- Attributes: the ``gen_ai`` flavour; the data lands in ``traces-generic.otel-default`` with the
  attributes as sent.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from ._preset import OtlpPreset, PresetSettings
from ._secret import check_header_value
from .base import Secret

__all__ = ["ElasticSettings", "ElasticDestination"]


class ElasticSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    endpoint: Annotated[str, msgspec.Meta(
        description="Managed OTLP endpoint (Add data > Applications > OpenTelemetry); /v1/traces appended",
    )]
    api_key: Annotated[Secret, msgspec.Meta(description="Elastic API key (sent as Authorization: ApiKey ...)")]


class ElasticDestination(OtlpPreset):
    """Spans to Elastic Observability through the Managed OTLP endpoint."""

    type = "elastic"
    settings_class = ElasticSettings
    url_setting = ("endpoint", "endpoint")

    def check(self, where: str) -> None:
        check_header_value(self.settings.api_key, f"{where}.apiKey")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": Secret(f"ApiKey {self.settings.api_key}")}
