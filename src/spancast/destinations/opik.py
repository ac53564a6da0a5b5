"""Comet Opik (``opik``): OTLP to ``<baseUrl>/v1/private/otel/v1/traces``, or Opik's REST batch API (``route: rest``).

Settings, as OpenRouter names them: ``apiKey`` (required, credential; ``opik_...``), ``workspace``
(required), ``projectName`` (required), ``headers``. OpenRouter has no base URL for Opik (Comet's
cloud only); spancast adds an optional ``baseUrl`` (default ``https://www.comet.com/opik/api``) for
self-hosted Opik (``http://<host>:5173/api``), enterprise deployments (``https://<host>/opik/api``)
and tests. Plus spancast's ``route`` (``rest``, the default, or ``otlp``), and for the OTLP route
``encoding`` (``protobuf`` default, or ``json``) and ``resource`` (both refused with ``route: rest``).

Each route is a destination class of its own, chosen when the configuration loads
(``spancast.destinations.ROUTES``): the OTLP route is :class:`OpikDestination`, here; the REST route is
:class:`~spancast.destinations.opik_rest.OpikRestDestination` (its wire format, ids and mapping are described
there). The settings and their checks are shared.

OTLP route: wire, and what each part rests on (Opik, "Get Started with OpenTelemetry",
https://www.comet.com/docs/opik/integrations/opentelemetry):

- URL: ``<baseUrl>/v1/private/otel/v1/traces`` (composed by ``_preset.join_url``: trailing slashes
  dropped; a base ending ``/v1/private/otel`` gets ``/v1/traces``). Opik's OTLP base endpoint is
  ``https://www.comet.com/opik/api/v1/private/otel``, and HTTP is the only transport.
- Auth: ``Authorization: <apiKey>`` (no Bearer prefix), ``Comet-Workspace: <workspace>``; the project:
  ``projectName: <projectName>`` (Opik files spans without it under "Default Project").
- Encoding: protobuf by default. Opik's OTLP resource consumes both ``application/x-protobuf`` and
  ``application/json`` (comet-ml/opik ``OpenTelemetryResource``); protobuf avoids any doubt about how
  its JSON reader takes OTLP's hex ids.
- Attributes: the ``gen_ai`` flavour; Opik maps GenAI-convention attributes onto its spans, and its
  backend assigns its own ids.

OpenRouter itself (ids re-made as UUIDv7, costs in span metadata) looks like Opik's REST batch API, not
OTLP: ``route: rest``, the default, sends exactly that; ``route: otlp`` the OTLP route.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from ._preset import OtlpPreset, PresetSettings
from ._secret import check_header_value
from .base import Secret

__all__ = ["OpikSettings", "OpikDestination", "DEFAULT_URL", "check_credentials"]

DEFAULT_URL = "https://www.comet.com/opik/api"


class OpikSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    api_key: Annotated[Secret, msgspec.Meta(description="Opik API key (opik_...), sent as Authorization")]
    workspace: Annotated[str, msgspec.Meta(description="the Comet workspace name (Comet-Workspace header)")]
    project_name: Annotated[str, msgspec.Meta(description="the Opik project traces go to")]
    # not in OpenRouter's form: self-hosted or enterprise Opik, and tests
    base_url: Annotated[str, msgspec.Meta(
        description="Opik API URL: self-hosted http://{host}:5173/api, enterprise https://{host}/opik/api",
    )] = DEFAULT_URL
    route: Annotated[Literal["otlp", "rest"], msgspec.Meta(
        description="rest: Opik's trace and span batch API (OpenRouter's mapping: UUIDv7 ids); otlp: its OTLP endpoint",
    )] = "rest"
    # Redeclared from PresetSettings (same type, default and place) for their descriptions.
    encoding: Annotated[Literal["protobuf", "json"], msgspec.Meta(
        description="OTLP body encoding: protobuf or json (route otlp only; the rest route sends JSON)",
    )] = "protobuf"
    resource: Annotated[dict[str, Any], msgspec.Meta(
        description="extra OTLP resource attributes (route otlp only; service.name defaults to spancast)",
    )] = {}


def check_credentials(s: OpikSettings, where: str) -> None:
    """The settings both routes send as headers: each a valid header value."""
    check_header_value(s.api_key, f"{where}.apiKey")
    check_header_value(s.workspace, f"{where}.workspace")
    check_header_value(s.project_name, f"{where}.projectName")


class OpikDestination(OtlpPreset):
    """GenAI spans to an Opik project through Opik's OTLP endpoint (``route: otlp``)."""

    type = "opik"
    settings_class = OpikSettings
    path = "/v1/private/otel/v1/traces"
    flavor = "gen_ai"
    secret_headers = frozenset({"authorization"})

    def check(self, where: str) -> None:
        check_credentials(self.settings, where)

    def auth_headers(self) -> dict[str, str]:
        s = self.settings
        return {"Authorization": s.api_key, "Comet-Workspace": s.workspace, "projectName": s.project_name}
