"""W&B Weave (``weave``): OTLP protobuf to ``<baseUrl>/otel/v1/traces``, or Weave's call API (``route: calls``).

Settings, as OpenRouter names them: ``apiKey`` (required, credential), ``entity`` (required; W&B team
or user name), ``project`` (required), ``baseUrl`` (default ``https://trace.wandb.ai``; Dedicated
Cloud and Self-Managed use ``https://<subdomain>.wandb.io/traces``), ``headers``. Plus spancast's
``route`` (``calls``, the default: OpenRouter's mapping is the call API's vocabulary, or ``otlp``), for the
calls route ``callsComplete`` (default true: complete calls to ``/v2/<entity>/<project>/calls/complete``, as
weave's SDK sends them; false: start/end pairs to ``/call/upsert_batch``), and for the OTLP route ``encoding``
(``protobuf`` only: ``json`` is refused when the settings are read) and ``resource`` (refused with ``route: calls``).

Each route is a destination class of its own, chosen when the configuration loads
(``spancast.destinations.ROUTES``): the OTLP route is :class:`WeaveDestination`, here; the calls route is
:class:`~spancast.destinations.weave_calls.WeaveCallsDestination` (its wire format is described there). The
settings and their checks are shared.

OTLP route: wire, and what each part rests on (W&B, "Send OpenTelemetry Traces to Weave",
https://docs.wandb.ai/weave/guides/tracking/otel):

- URL: ``<baseUrl>/otel/v1/traces`` (composed by ``_preset.join_url``: trailing slashes dropped, a base
  that already ends with ``/otel/v1/traces`` gets nothing more).
- Encoding: ``Content-Type: application/x-protobuf`` **only**: the endpoint takes no OTLP JSON.
- Auth: ``wandb-api-key: <apiKey>``.
- Project: both ways W&B has documented. The current page routes by the resource attributes
  ``wandb.entity`` / ``wandb.project``; the earlier page (and integrations written against it) by the
  header ``project_id: <entity>/<project>``. Both are sent, so either reading of the endpoint files the
  spans in the same project; the settings win over the user's ``resource`` for those two keys.
- Attributes: the ``gen_ai`` flavour, which Weave's OTel conversion maps onto its calls (inputs, output,
  usage, model, thread), plus the ``wandb.*`` keys only Weave reads (its server code,
  ``weave/trace_server/opentelemetry/constants.py`` ``WB_KEYS``, checked by running it:
  tests/fidelity/test_fidelity_vendor_code.py): ``wandb.display_name`` on the generation and the trace's
  root, since Weave otherwise shows a call by its op name made safe (``openai/gpt-4o`` as
  ``openai_gpt-4o``); ``wandb.attributes.*``, the call's attributes, for the user (``user_id``) and the
  custom trace keys, which Weave shows nowhere else. Weave prices usage with its own table: the record's
  cost cannot be shown on this route (the calls route sends it in the summary).

OpenRouter's own Weave mapping (``op_name``, ``inputs``, ``summary``) reads like Weave's call API rather
than OTLP: ``route: calls``, the default, sends exactly that vocabulary.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from ..codec import TraceEncoder
from ..codec.plan import Attr, Op, get_plan
from ..errors import ConfigError
from ..record import TRACE_KEYS
from ._preset import OtlpPreset, PresetSettings
from ._secret import check_header_value
from .base import Secret
from .events import trace_text

__all__ = ["WeaveSettings", "WeaveDestination", "DEFAULT_URL", "check_project"]

DEFAULT_URL = "https://trace.wandb.ai"


def _generation_name(rec: Any) -> str:
    """The generation span's name, as the encoders give it (the gen_ai flavour: generation_name, else model)."""
    return trace_text(rec.trace or {}, "generation_name") or rec.model


def _root_name(rec: Any) -> str:
    """The trace root's name, as the encoders give it (trace_name, else model)."""
    return trace_text(rec.trace or {}, "trace_name") or rec.model


_GEN_AI = get_plan("gen_ai")
#: The gen_ai flavour with the wandb.* keys Weave's OTel conversion reads (see the module docstring).
PLAN = get_plan(_GEN_AI._replace(
    name="weave",
    steps=_GEN_AI.steps + (
        Attr(Op.PYFUNC, "wandb.display_name", None, _generation_name),
        Attr(Op.STR, "wandb.attributes.user_id", "user"),
        Attr(Op.EXPAND, "wandb.attributes.", "trace", frozenset(TRACE_KEYS) | {"user_id"}),
    ),
    root_steps=_GEN_AI.root_steps + (Attr(Op.PYFUNC, "wandb.display_name", None, _root_name),),
))


class WeaveSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    api_key: Annotated[Secret, msgspec.Meta(description="W&B API key (wandb.ai/authorize)")]
    entity: Annotated[str, msgspec.Meta(description="the W&B team or user name that owns the project")]
    project: Annotated[str, msgspec.Meta(description="the Weave project name")]
    base_url: Annotated[str, msgspec.Meta(
        description="Weave trace host: Dedicated Cloud and Self-Managed use https://{subdomain}.wandb.io/traces",
    )] = DEFAULT_URL
    route: Annotated[Literal["otlp", "calls"], msgspec.Meta(
        description="calls: Weave's call API (OpenRouter's mapping: op_name, inputs, summary); otlp: its OTLP endpoint (protobuf)",
    )] = "calls"
    calls_complete: Annotated[bool, msgspec.Meta(
        description="route calls: each call whole to /v2/{entity}/{project}/calls/complete, as weave's SDK sends"
                    " it; false: start/end pairs to /call/upsert_batch, for a Weave server without that route",
    )] = True
    # Redeclared from PresetSettings (same type, default and place) for their descriptions. encoding is
    # accepted as a key so that "json" gets a reason, not "unknown field".
    encoding: Annotated[Literal["protobuf", "json"], msgspec.Meta(
        description="protobuf only: Weave's OTLP endpoint takes no JSON (the calls route sends JSON)",
    )] = "protobuf"
    resource: Annotated[dict[str, Any], msgspec.Meta(
        description="extra OTLP resource attributes (route otlp only); wandb.entity and wandb.project are set",
    )] = {}


def check_project(s: WeaveSettings, where: str) -> None:
    """The settings both routes send (the key as a header, entity and project in headers or the path)."""
    check_header_value(s.api_key, f"{where}.apiKey")
    for key, value in (("entity", s.entity), ("project", s.project)):
        check_header_value(value, f"{where}.{key}")
        if "/" in value:
            raise ConfigError(f"{where}.{key}", "must not contain '/' (the project id is <entity>/<project>)")


class WeaveDestination(OtlpPreset):
    """GenAI spans, protobuf only, to a Weave project through its OTLP endpoint (``route: otlp``)."""

    type = "weave"
    settings_class = WeaveSettings
    path = "/otel/v1/traces"
    flavor = PLAN
    secret_headers = frozenset({"wandb-api-key", "authorization"})

    def check(self, where: str) -> None:
        s = self.settings
        if s.encoding != "protobuf":
            raise ConfigError(f"{where}.encoding", "Weave's OTLP endpoint takes protobuf only (application/x-protobuf)")
        if not s.calls_complete:
            raise ConfigError(f"{where}.callsComplete", "applies to route: calls only")
        check_project(s, where)

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
            id_salt=self.id_salt,
        )
