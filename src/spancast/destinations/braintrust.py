"""Braintrust (``braintrust``): OTLP/HTTP to ``<baseUrl>/otel/v1/traces``, Bearer key, project in ``x-bt-parent``.

Settings, as OpenRouter names them: ``apiKey`` (required, credential), ``projectId`` (required; the
project's id, not its name: "Copy Project ID" on the project's configuration page), ``baseUrl``
(default ``https://api.braintrust.dev``; EU organisations use ``https://api-eu.braintrust.dev``,
self-hosted data planes their own API URL), ``headers``. Plus spancast's ``encoding`` (``protobuf``
default, or ``json``) and ``resource``.

Wire, and what each part rests on (Braintrust, "Send OpenTelemetry traces and logs",
https://braintrust.dev/docs/integrations/sdk-integrations/opentelemetry/send-traces-and-logs, and the
OpenLLMetry recipe it points to, https://traceloop.com/docs/openllmetry/integrations/braintrust):

- URL: ``<baseUrl>/otel/v1/traces`` (composed by ``_preset.join_url``: trailing slashes dropped;
  a base ending ``/otel``, as in Braintrust's ``OTEL_EXPORTER_OTLP_ENDPOINT`` instructions, gets ``/v1/traces``).
- Auth: ``Authorization: Bearer <apiKey>``; the destination project: ``x-bt-parent: project_id:<projectId>``.
- Encoding: protobuf by default: Braintrust's knowledge base advises "OTLP protobuf plus gzip" against
  its 10 MB request limit (https://braintrust.dev/docs/kb/otlp-traces-endpoint-payload-limits).
  ``encoding: json`` is accepted by the OTLP/HTTP endpoint too.
- Attributes: the ``gen_ai`` flavour; Braintrust turns GenAI-convention LLM spans into its own LLM spans.

OpenRouter does not say whether it uses this OTLP route or Braintrust's REST ``project_logs`` insert;
the OTLP route is the documented one for OpenTelemetry data.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from ._preset import OtlpPreset, PresetSettings
from ._secret import check_header_value
from .base import Secret

__all__ = ["BraintrustSettings", "BraintrustDestination", "DEFAULT_URL"]

DEFAULT_URL = "https://api.braintrust.dev"


class BraintrustSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    api_key: Annotated[Secret, msgspec.Meta(description="Braintrust API key (sent as a Bearer token)")]
    project_id: Annotated[str, msgspec.Meta(
        description="the project's id, not its name (Copy Project ID on the project's configuration page)",
    )]
    base_url: Annotated[str, msgspec.Meta(
        description="Braintrust API URL: EU https://api-eu.braintrust.dev, or a self-hosted data plane's",
    )] = DEFAULT_URL


class BraintrustDestination(OtlpPreset):
    """GenAI spans to a Braintrust project's logs."""

    type = "braintrust"
    settings_class = BraintrustSettings
    path = "/otel/v1/traces"
    flavor = "gen_ai"
    secret_headers = frozenset({"authorization"})

    def check(self, where: str) -> None:
        check_header_value(self.settings.api_key, f"{where}.apiKey")
        check_header_value(self.settings.project_id, f"{where}.projectId")

    def auth_headers(self) -> dict[str, str]:
        s = self.settings
        return {"Authorization": Secret(f"Bearer {s.api_key}"), "x-bt-parent": f"project_id:{s.project_id}"}
