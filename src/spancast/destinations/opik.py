"""Comet Opik (``opik``): OTLP to ``<baseUrl>/v1/private/otel/v1/traces``, or Opik's REST batch API (``route: rest``).

Settings, as OpenRouter names them: ``apiKey`` (required, credential; ``opik_...``), ``workspace``
(required), ``projectName`` (required), ``headers``. OpenRouter has no base URL for Opik (Comet's
cloud only); spancast adds an optional ``baseUrl`` (default ``https://www.comet.com/opik/api``) for
self-hosted Opik (``http://<host>:5173/api``), enterprise deployments (``https://<host>/opik/api``)
and tests. Plus spancast's ``route`` (``rest``, the default, or ``otlp``), and for the OTLP route
``encoding`` (``protobuf`` default, or ``json``) and ``resource`` (both refused with ``route: rest``).

The route decides the URLs, the body, the headers and the batch caps; the settings and their checks are
shared. The REST route lives in :mod:`spancast.destinations.opik_rest` (its wire format, ids and mapping
are described there); this module delegates to it.

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

from typing import Annotated, Any, Literal, Mapping, Sequence

import msgspec

from ..codec import TraceEncoder
from ..errors import ConfigError
from ..pipeline.retry import Decision, decide
from ._preset import OtlpPreset, PresetSettings
from ._secret import check_header_value
from .base import Payload, Request, Secret
from .opik_rest import RestEncoder, RestRoute

__all__ = ["OpikSettings", "OpikDestination", "DEFAULT_URL"]

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


class OpikDestination(OtlpPreset):
    """GenAI spans to an Opik project through Opik's OTLP endpoint; or, with ``route: rest``, traces and spans."""

    type = "opik"
    settings_class = OpikSettings
    path = "/v1/private/otel/v1/traces"
    flavor = "gen_ai"
    secret_headers = frozenset({"authorization"})
    #: The REST route, or None on the OTLP route (set once the settings are read).
    rest: RestRoute | None = None

    def __init__(self, mapping: Mapping[str, Any], where: str = "destination") -> None:
        super().__init__(mapping, where)
        self.rest = RestRoute(self.settings, self.id_salt) if self.settings.route == "rest" else None
        if self.rest is not None:  # instance attributes over the ClassVars: the lane's caps, two requests a batch
            self.max_batch_bytes = self.rest.max_batch_bytes
            self.max_batch_records = self.rest.max_batch_records
            self.requests_per_batch = 2
            self.takes_otlp_spans = False  # Opik's REST API, not OTLP

    def check(self, where: str) -> None:
        s = self.settings
        if s.route == "rest":
            if s.encoding != "protobuf":
                raise ConfigError(f"{where}.encoding", "applies to route: otlp only (the REST route sends JSON)")
            if s.resource:
                raise ConfigError(f"{where}.resource", "applies to route: otlp only (the REST route has no resource)")
        check_header_value(s.api_key, f"{where}.apiKey")
        check_header_value(s.workspace, f"{where}.workspace")
        check_header_value(s.project_name, f"{where}.projectName")

    def auth_headers(self) -> dict[str, str]:
        s = self.settings
        return {"Authorization": s.api_key, "Comet-Workspace": s.workspace, "projectName": s.project_name}

    @property
    def url(self) -> str:
        return self.rest.traces_url if self.rest is not None else super().url

    @property
    def encoding(self) -> str:
        return "json" if self.rest is not None else super().encoding

    def new_encoder(self, format: str | None = None) -> TraceEncoder | RestEncoder:
        """The route's encoder: for OTLP, the preset's; for REST, traces and spans in one body (format ignored)."""
        return self.rest.new_encoder() if self.rest is not None else super().new_encoder(format)

    def payloads(self, body: bytes, records: Sequence[Any] = ()) -> list[Payload]:
        """OTLP: the body. REST: its two documents, traces first."""
        return self.rest.payloads(body) if self.rest is not None else super().payloads(body, records)

    def request(self, body: bytes) -> Request:
        return self.rest.request(body) if self.rest is not None else super().request(body)

    def preview_payload(self, payloads: list[Payload]) -> Payload:
        return self.rest.preview_payload(payloads) if self.rest is not None else super().preview_payload(payloads)

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Decision:
        if self.rest is not None:  # 204 and no body: no OTLP partial success to read
            return decide(status, headers, retryable=self.retryable)
        return super().classify(status, headers, body)

    def test_payload(self) -> tuple[Payload, frozenset[int]]:
        """One ``spancast-connection-test`` span (OTLP) or trace (REST; stored as data); a 2xx passes."""
        return self.rest.test_payload() if self.rest is not None else super().test_payload()

    def hint(self, status: int | None, excerpt: str) -> str | None:
        return self.rest.hint(status, excerpt) if self.rest is not None else None
