"""Arize AX (``arize``): OTLP/HTTP to ``<baseUrl>/v1/traces``, space and API key headers, OpenInference attributes.

Settings, as OpenRouter names them: ``apiKey`` and ``spaceKey`` (required, credentials), ``modelId``
(required; the Arize tracing project, "Project Name" in OpenRouter's form), ``baseUrl`` (default
``https://otlp.arize.com``; the EU host is ``https://otlp.eu-west-1a.arize.com``), ``headers``. Plus
spancast's ``encoding`` (``protobuf`` default, or ``json``) and ``resource``.

Wire, and what each part rests on:

- URL: ``<baseUrl>/v1/traces`` (composed by ``_preset.join_url``: trailing slashes dropped, a base that
  already ends with ``/v1/traces`` gets nothing more). Arize documents the HTTP traces endpoint
  ``https://otlp.arize.com/v1/traces`` (gRPC is ``.../v1``):
  https://arize.com/docs/ax/integrations/opentelemetry/opentelemetry-arize-otel
- Auth: ``authorization: <apiKey>`` (no Bearer) and ``arize-space-id: <spaceKey>``: the headers Arize's
  own exporter sends (arize-otel ``_get_arize_auth_headers``, which also sends the deprecated
  ``api_key`` / ``space_id`` forms and ``arize-interface: otel``; those are not sent here).
- Project: the resource attribute ``openinference.project.name = <modelId>`` (arize-otel's
  ``register(project_name=...)`` sets exactly this). It is merged over the user's ``resource``: the
  required setting wins.
- Encoding: protobuf by default, as arize-otel's HTTP exporter sends (it wraps
  ``opentelemetry-exporter-otlp-proto-http``); ``encoding: json`` is accepted by the OTLP/HTTP endpoint too.
- Attributes: the ``openinference`` flavour (``openinference.span.kind``, ``llm.*``, ``input.value``,
  ``metadata``...), which is what Arize reads and what OpenRouter says it sends to Arize
  (https://openrouter.ai/docs/guides/features/broadcast/arize).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from ..codec import TraceEncoder
from ..errors import ConfigError
from ._preset import OtlpPreset, PresetSettings
from ._secret import check_header_value
from .base import Secret

__all__ = ["ArizeSettings", "ArizeDestination", "DEFAULT_URL", "PROJECT_ATTRIBUTE"]

DEFAULT_URL = "https://otlp.arize.com"
PROJECT_ATTRIBUTE = "openinference.project.name"


class ArizeSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    api_key: Annotated[Secret, msgspec.Meta(description="Arize API key (sent as the authorization header)")]
    space_key: Annotated[Secret, msgspec.Meta(description="Arize space ID (space settings), sent as arize-space-id")]
    model_id: Annotated[str, msgspec.Meta(
        description="the Arize project name (OpenRouter's \"Project Name\"), set as openinference.project.name",
    )]
    base_url: Annotated[str, msgspec.Meta(
        description="Arize OTLP host: EU https://otlp.eu-west-1a.arize.com; /v1/traces appended",
    )] = DEFAULT_URL


class ArizeDestination(OtlpPreset):
    """OpenInference spans to Arize AX, the project named in the resource."""

    type = "arize"
    settings_class = ArizeSettings
    path = "/v1/traces"
    flavor = "openinference"
    secret_headers = frozenset({"authorization", "arize-space-id"})

    def check(self, where: str) -> None:
        s = self.settings
        check_header_value(s.api_key, f"{where}.apiKey")
        check_header_value(s.space_key, f"{where}.spaceKey")
        if not s.model_id.strip():
            raise ConfigError(f"{where}.modelId", "must not be empty (it names the Arize project)")

    def auth_headers(self) -> dict[str, str]:
        return {"authorization": self.settings.api_key, "arize-space-id": self.settings.space_key}

    def new_encoder(self, format: str | None = None) -> TraceEncoder:
        """The preset's encoder, with the project in the resource (over the user's own resource)."""
        s = self.settings
        return TraceEncoder(
            format=format or self.encoding,
            flavor=self.flavor,
            resource={**s.resource, PROJECT_ATTRIBUTE: s.model_id},
            max_value_chars=self.max_value_chars,
            id_salt=self.id_salt,
        )
