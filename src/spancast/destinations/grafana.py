"""Grafana Cloud (``grafana``): OTLP/HTTP to the stack's OTLP gateway, Basic auth with the instance id and a token.

Settings, as OpenRouter names them: ``baseUrl`` (default ``https://otlp-gateway-prod-us-west-0.grafana.net``;
the OTLP gateway of the stack's region, not the Grafana dashboard URL), ``instanceId`` (required,
numeric: the stack's instance id), ``apiKey`` (required: a ``glc_...`` access-policy token with
``traces:write``), ``headers``. Plus spancast's ``encoding`` and ``resource``.

Wire, and what each part rests on (Grafana, "Send data using OpenTelemetry Protocol",
https://grafana.com/docs/grafana-cloud/send-data/otlp/send-data-otlp/):

- URL: ``<baseUrl>/otlp/v1/traces``. Grafana's OpenTelemetry tile shows the endpoint with ``/otlp``
  already on it; a base ending in ``/otlp`` (or in the full path) is accepted as is.
- Auth: ``Authorization: Basic base64(<instanceId>:<apiKey>)``.
- Encoding: protobuf by default. The gateway takes OTLP/HTTP protobuf and JSON (OpenRouter sends JSON
  to it); Grafana's tile configures ``OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf``, the form its own
  docs and tools use. ``encoding: json`` switches.
- Attributes: the ``gen_ai`` flavour (``user.id``, ``session.id``, ``trace.metadata.*``), queried in
  Tempo with TraceQL, e.g. ``{ span.user.id = "user-42" }``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from ..errors import ConfigError
from ._preset import OtlpPreset, PresetSettings, basic_auth
from ._secret import check_header_value
from .base import Secret

__all__ = ["GrafanaSettings", "GrafanaDestination", "DEFAULT_URL"]

DEFAULT_URL = "https://otlp-gateway-prod-us-west-0.grafana.net"


class GrafanaSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    instance_id: Annotated[int | str, msgspec.Meta(
        description="the stack's numeric instance ID (OpenTelemetry tile of the Grafana Cloud portal)",
    )]
    api_key: Annotated[Secret, msgspec.Meta(
        description="Grafana Cloud access policy token (glc_...) with the traces:write scope",
    )]
    base_url: Annotated[str, msgspec.Meta(
        description="the stack's OTLP gateway https://otlp-gateway-prod-{region}.grafana.net, not the dashboard",
    )] = DEFAULT_URL


class GrafanaDestination(OtlpPreset):
    """Spans to Grafana Cloud Tempo through the OTLP gateway."""

    type = "grafana"
    settings_class = GrafanaSettings
    path = "/otlp/v1/traces"

    def check(self, where: str) -> None:
        s = self.settings
        iid = s.instance_id
        text = str(iid) if isinstance(iid, int) and not isinstance(iid, bool) else iid
        if not isinstance(text, str) or not text.isascii() or not text.isdigit():
            raise ConfigError(f"{where}.instanceId", "expected the numeric Grafana Cloud instance id (digits only)")
        check_header_value(s.api_key, f"{where}.apiKey")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": basic_auth(str(self.settings.instance_id), self.settings.api_key)}
