"""Ramp (``ramp``): OTLP JSON POSTed to Ramp's OpenRouter usage endpoint, Bearer API key, gen_ai attributes.

Settings, as OpenRouter names them: ``apiKey`` (required; Ramp > Settings > Integrations > OpenRouter >
Generate API Key), ``baseUrl`` (default ``https://api.ramp.com/developer/v1/ai-usage/openrouter``, "only
change if directed by Ramp"), ``headers``. Plus spancast's ``resource`` (extra resource attributes) and
``encoding`` (``json`` only).

Wire, and what each part rests on:

- URL: the base URL exactly as given; nothing is appended. The default already names the full path
  (OpenRouter's Ramp page, https://openrouter.ai/docs/guides/features/broadcast/ramp). That nothing is
  appended is not documented anywhere: it is the reading of a default that ends in a resource name.
- Auth: ``Authorization: Bearer <apiKey>``. **Undocumented**: neither OpenRouter nor Ramp says how the
  key travels on this partner path; Ramp's developer API uses Bearer tokens, so this is the likely form.
- Encoding: OTLP **JSON**, always (``encoding: protobuf`` is refused as an invalid value). Ramp's
  engineering write-up (https://builders.ramp.com/post/ai-token-spend-management) describes parsing
  OpenRouter's JSON export (``resourceSpans`` -> ``scopeSpans`` -> ``spans``) and decoding the AnyValue
  union; protobuf is not mentioned anywhere, so it is not offered.
- Attributes: the ``openrouter`` flavour, OpenRouter's own payload (resource ``service.name=openrouter``,
  scope ``openrouter``), which Ramp's receiver was built on; it carries everything Ramp reads:
  ``gen_ai.request.model``, ``gen_ai.usage.input_tokens`` / ``output_tokens`` / ``input_tokens.cached`` /
  ``output_tokens.reasoning``, ``gen_ai.usage.total_cost`` and ``user.id``. The connection test's span is
  named ``openrouter-connection-test``, which Ramp filters out.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from ._preset import OtlpPreset, PresetSettings
from ._secret import check_header_value
from .base import Secret

__all__ = ["RampSettings", "RampDestination", "DEFAULT_URL"]

DEFAULT_URL = "https://api.ramp.com/developer/v1/ai-usage/openrouter"


class RampSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    api_key: Annotated[Secret, msgspec.Meta(
        description="Ramp API key (Ramp > Settings > Integrations > OpenRouter > Generate API Key)",
    )]
    base_url: Annotated[str, msgspec.Meta(
        description="the full endpoint URL, nothing appended; change only if Ramp says so",
    )] = DEFAULT_URL
    # Ramp reads the JSON export; protobuf is refused as an invalid value
    encoding: Annotated[Literal["json"], msgspec.Meta(description="json only: Ramp reads OTLP JSON")] = "json"


class RampDestination(OtlpPreset):
    """POSTs OTLP JSON to the base URL as given, with the API key as a Bearer token."""

    type = "ramp"
    settings_class = RampSettings
    path = ""  # the base URL is the full endpoint: nothing is appended
    flavor = "openrouter"  # Ramp's receiver was built on OpenRouter's own payload
    secret_headers = frozenset({"authorization"})

    def check(self, where: str) -> None:
        check_header_value(self.settings.api_key, f"{where}.apiKey")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": Secret(f"Bearer {self.settings.api_key}")}  # undocumented form: see above
