"""Arize Phoenix (``phoenix``): OTLP/HTTP protobuf to ``<endpoint>/v1/traces``, the project in ``x-project-name``.

Not an OpenRouter destination (OpenRouter lists Phoenix as "coming soon"); the most used self-hosted LLM
observability backend, so first-class here. Settings: ``endpoint`` (default ``http://localhost:6006``,
``phoenix serve``'s), ``project`` (default ``default``), ``apiKey`` (optional: a Phoenix with
authentication on), ``headers``, ``resource``.

Wire, and what each part rests on (arize-phoenix 20.26 ``phoenix/server/api/routers/v1/traces.py``,
checked against a real ``phoenix serve`` by tests/fidelity):

- URL: ``<endpoint>/v1/traces``. Protobuf only: Phoenix answers 415 to ``application/json``.
- Project: the ``x-project-name`` header (Phoenix's first choice, before the resource's
  ``openinference.project.name``); Phoenix creates it on first use.
- Auth: ``Authorization: Bearer <apiKey>`` when an API key is set (``PHOENIX_ENABLE_AUTH``).
- Attributes: the ``openinference`` flavour, which Phoenix renders fully (kinds, messages with tool
  calls, tokens with cache and reasoning details, metadata with the generation id, session, user).
  Phoenix prices spans itself from its model table: the record's cost is kept as ``llm.cost.*``
  attributes, which Phoenix shows but does not use for its cost columns (no provided-cost path in its
  ``cost_tracking``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from ._preset import OtlpPreset, PresetSettings
from ._secret import check_header_value
from .base import Secret

__all__ = ["PhoenixSettings", "PhoenixDestination", "DEFAULT_URL"]

DEFAULT_URL = "http://localhost:6006"


class PhoenixSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    encoding: Annotated[Literal["protobuf"], msgspec.Meta(
        description="protobuf only: Phoenix answers 415 to OTLP JSON",
    )] = "protobuf"
    endpoint: Annotated[str, msgspec.Meta(
        description="Phoenix URL (phoenix serve's port 6006, or Phoenix Cloud's); /v1/traces appended",
    )] = DEFAULT_URL
    project: Annotated[str, msgspec.Meta(description="the Phoenix project spans go to (x-project-name)")] = "default"
    api_key: Annotated[Secret | None, msgspec.Meta(
        description="Phoenix API key, sent as a Bearer token (a Phoenix with authentication on)",
    )] = None


class PhoenixDestination(OtlpPreset):
    """OpenInference spans to a Phoenix project."""

    type = "phoenix"
    settings_class = PhoenixSettings
    url_setting = ("endpoint", "endpoint")
    flavor = "openinference"

    def check(self, where: str) -> None:
        check_header_value(self.settings.project, f"{where}.project")
        if self.settings.api_key is not None:
            check_header_value(self.settings.api_key, f"{where}.apiKey")

    def auth_headers(self) -> dict[str, Any]:
        headers: dict[str, Any] = {"x-project-name": self.settings.project}
        if self.settings.api_key is not None:
            headers["Authorization"] = Secret(f"Bearer {self.settings.api_key}")
        return headers
