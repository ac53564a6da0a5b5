"""Comet Opik (``opik``), the OTLP route: ``<baseUrl>/v1/private/otel/v1/traces``, key, workspace and project headers.

Settings, as OpenRouter names them: ``apiKey`` (required, credential; ``opik_...``), ``workspace``
(required), ``projectName`` (required), ``headers``. OpenRouter has no base URL for Opik (Comet's
cloud only); spancast adds an optional ``baseUrl`` (default ``https://www.comet.com/opik/api``) for
self-hosted Opik (``http://<host>:5173/api``), enterprise deployments (``https://<host>/opik/api``)
and tests. Plus spancast's ``encoding`` (``protobuf`` default, or ``json``) and ``resource``.

Wire, and what each part rests on (Opik, "Get Started with OpenTelemetry",
https://www.comet.com/docs/opik/integrations/opentelemetry):

- URL: ``<baseUrl>/v1/private/otel/v1/traces`` (composed by ``_preset.join_url``: trailing slashes
  dropped; a base ending ``/v1/private/otel`` gets ``/v1/traces``). Opik's OTLP base endpoint is
  ``https://www.comet.com/opik/api/v1/private/otel``, and HTTP is the only transport.
- Auth: ``Authorization: <apiKey>`` (no Bearer prefix), ``Comet-Workspace: <workspace>``; the project:
  ``projectName: <projectName>`` (Opik files spans without it under "Default Project").
- Encoding: protobuf by default. Opik's OTLP resource consumes both ``application/x-protobuf`` and
  ``application/json`` (comet-ml/opik ``OpenTelemetryResource``); protobuf avoids any doubt about how
  its JSON reader takes OTLP's hex ids.
- Attributes: the ``gen_ai`` flavour; Opik maps GenAI-convention attributes onto its spans.

OpenRouter itself (ids re-made as UUIDv7, costs in span metadata) looks like Opik's REST batch API,
not OTLP; this destination is the OTLP route, where Opik's backend assigns its own ids.
"""

from __future__ import annotations

from ._preset import OtlpPreset, PresetSettings
from ._secret import check_header_value
from .base import Secret

__all__ = ["OpikSettings", "OpikDestination", "DEFAULT_URL"]

DEFAULT_URL = "https://www.comet.com/opik/api"


class OpikSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    api_key: Secret
    workspace: str
    project_name: str
    base_url: str = DEFAULT_URL  # not in OpenRouter's form: self-hosted or enterprise Opik, and tests


class OpikDestination(OtlpPreset):
    """GenAI spans to an Opik project through Opik's OTLP endpoint."""

    type = "opik"
    settings_class = OpikSettings
    path = "/v1/private/otel/v1/traces"
    flavor = "gen_ai"
    secret_headers = frozenset({"authorization"})

    def check(self, where: str) -> None:
        s = self.settings
        check_header_value(s.api_key, f"{where}.apiKey")
        check_header_value(s.workspace, f"{where}.workspace")
        check_header_value(s.project_name, f"{where}.projectName")

    def auth_headers(self) -> dict[str, str]:
        s = self.settings
        return {"Authorization": s.api_key, "Comet-Workspace": s.workspace, "projectName": s.project_name}
