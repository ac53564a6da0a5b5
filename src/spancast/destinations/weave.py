"""W&B Weave (``weave``), the OTLP route: protobuf to ``<baseUrl>/otel/v1/traces``, API key header, entity/project.

Settings, as OpenRouter names them: ``apiKey`` (required, credential), ``entity`` (required; W&B team
or user name), ``project`` (required), ``baseUrl`` (default ``https://trace.wandb.ai``; Dedicated
Cloud and Self-Managed use ``https://<subdomain>.wandb.io/traces``), ``headers``. Plus spancast's
``encoding`` (``protobuf`` only: ``json`` is refused when the settings are read) and ``resource``.

Wire, and what each part rests on (W&B, "Send OpenTelemetry Traces to Weave",
https://docs.wandb.ai/weave/guides/tracking/otel):

- URL: ``<baseUrl>/otel/v1/traces`` (composed by ``_preset.join_url``: trailing slashes dropped, a base
  that already ends with ``/otel/v1/traces`` gets nothing more).
- Encoding: ``Content-Type: application/x-protobuf`` **only**: the endpoint takes no OTLP JSON.
- Auth: ``wandb-api-key: <apiKey>``.
- Project: both ways W&B has documented. The current page routes by the resource attributes
  ``wandb.entity`` / ``wandb.project``; the earlier page (and integrations written against it) by the
  header ``project_id: <entity>/<project>``. Both are sent, so either reading of the endpoint files the
  spans in the same project; the settings win over the user's ``resource`` for those two keys.
- Attributes: the ``gen_ai`` flavour; Weave maps GenAI-convention (and OpenInference) attributes onto
  its calls.

OpenRouter's own Weave mapping (``op_name``, ``inputs``, ``summary``) reads like Weave's call API rather
than OTLP; this destination is the OTLP route.
"""

from __future__ import annotations

from ..codec import TraceEncoder
from ..errors import ConfigError
from ._preset import OtlpPreset, PresetSettings
from ._secret import check_header_value
from .base import Secret

__all__ = ["WeaveSettings", "WeaveDestination", "DEFAULT_URL"]

DEFAULT_URL = "https://trace.wandb.ai"


class WeaveSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    # encoding (inherited) is accepted as a key so that "json" gets a reason, not "unknown field".
    api_key: Secret
    entity: str
    project: str
    base_url: str = DEFAULT_URL


class WeaveDestination(OtlpPreset):
    """GenAI spans, protobuf only, to a Weave project."""

    type = "weave"
    settings_class = WeaveSettings
    path = "/otel/v1/traces"
    flavor = "gen_ai"
    secret_headers = frozenset({"wandb-api-key", "authorization"})

    def check(self, where: str) -> None:
        s = self.settings
        if s.encoding != "protobuf":
            raise ConfigError(f"{where}.encoding", "Weave's OTLP endpoint takes protobuf only (application/x-protobuf)")
        check_header_value(s.api_key, f"{where}.apiKey")
        for key, value in (("entity", s.entity), ("project", s.project)):
            check_header_value(value, f"{where}.{key}")
            if "/" in value:
                raise ConfigError(f"{where}.{key}", "must not contain '/' (the project id is <entity>/<project>)")

    def auth_headers(self) -> dict[str, str]:
        s = self.settings
        return {"wandb-api-key": s.api_key, "project_id": f"{s.entity}/{s.project}"}

    def new_encoder(self, format: str | None = None) -> TraceEncoder:
        """The preset's encoder, with entity and project in the resource (over the user's own resource)."""
        s = self.settings
        return TraceEncoder(
            format=format or self.encoding,
            flavor=self.flavor,
            resource={**s.resource, "wandb.entity": s.entity, "wandb.project": s.project},
            max_value_chars=self.max_value_chars,
        )
