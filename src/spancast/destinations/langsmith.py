"""LangSmith (``langsmith``): OTLP/HTTP to LangSmith's OTel route, API key and project headers, the ``langsmith`` flavour.

Settings, as OpenRouter names them: ``apiKey`` (required; ``lsv2_pt_...``), ``project`` (default
``"main"``), ``endpoint`` (default ``https://api.smith.langchain.com``; ``https://eu.api.smith.langchain.com``
for EU, ``https://<host>/api/v1`` self-hosted), ``workspaceId`` (optional; needed by org-scoped keys
linked to several workspaces), ``headers``. Plus spancast's ``encoding`` and ``resource``.

Wire, and what each part rests on (LangChain, "Trace with OpenTelemetry",
https://docs.langchain.com/langsmith/trace-with-opentelemetry):

- URL: ``<endpoint>/otel/v1/traces`` (the docs' ``OTEL_EXPORTER_OTLP_ENDPOINT`` is ``<endpoint>/otel``,
  which is accepted as the base too).
- Headers: ``x-api-key: <apiKey>``, ``Langsmith-Project: <project>`` and, with a workspace,
  ``X-Tenant-Id: <workspaceId>``.
- Encoding: protobuf by default: the docs configure the stock OTLP/HTTP exporter, which sends
  protobuf. ``encoding: json`` switches (OpenRouter sends JSON).
- Attributes: the ``langsmith`` flavour: gen_ai plus ``langsmith.span.kind`` (``llm`` on the
  generation, ``chain`` on the span_name span), ``langsmith.trace.name`` (trace_name; LangSmith uses
  it as the run's name), ``langsmith.trace.session_id`` (session_id), ``langsmith.metadata.<key>``
  for custom trace keys, and ``langsmith.metadata.user_id`` / ``.session_id`` (LangSmith groups
  threads by the session_id metadata key; OpenRouter says it sends the user id).
  Note: in LangSmith's data model a "session" is also the tracing project; the docs describe
  ``langsmith.trace.session_id`` as the session identifier of related traces, which is how it is used.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from ._preset import OtlpPreset, PresetSettings
from ._secret import check_header_value
from .base import Destination, Secret

__all__ = ["LangSmithSettings", "LangSmithDestination", "DEFAULT_URL"]

DEFAULT_URL = "https://api.smith.langchain.com"


class LangSmithSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    api_key: Annotated[Secret, msgspec.Meta(description="LangSmith API key (lsv2_pt_... or lsv2_sk_...)")]
    project: Annotated[str, msgspec.Meta(
        description="the LangSmith tracing project runs go to (Langsmith-Project header)",
    )] = "main"
    endpoint: Annotated[str, msgspec.Meta(
        description="API URL: EU https://eu.api.smith.langchain.com, self-hosted https://{host}/api/v1",
    )] = DEFAULT_URL
    workspace_id: Annotated[str | None, msgspec.Meta(
        description="workspace id (X-Tenant-Id), needed by org-scoped keys linked to several workspaces",
    )] = None


class LangSmithDestination(OtlpPreset):
    """Generations as LangSmith llm runs, in the configured project."""

    type = "langsmith"
    settings_class = LangSmithSettings
    url_setting = ("endpoint", "endpoint")
    path = "/otel/v1/traces"
    flavor = "langsmith"
    secret_headers = Destination.secret_headers | {"x-api-key"}

    def check(self, where: str) -> None:
        s = self.settings
        check_header_value(s.api_key, f"{where}.apiKey")
        check_header_value(s.project, f"{where}.project")
        if s.workspace_id is not None:
            check_header_value(s.workspace_id, f"{where}.workspaceId")

    def auth_headers(self) -> dict[str, str]:
        s = self.settings
        headers = {"x-api-key": s.api_key, "Langsmith-Project": s.project}
        if s.workspace_id is not None:
            headers["X-Tenant-Id"] = s.workspace_id
        return headers
