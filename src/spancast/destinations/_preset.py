"""The shape every vendor OTLP preset shares: a base URL plus the vendor's traces path, auth headers, a flavour.

A preset (grafana, langfuse, langsmith, newrelic, sentry, elastic) is configuration over
:class:`~spancast.destinations.otlp.OtlpDestination`: which setting holds the base URL and what path
follows it, which headers authenticate, which attribute flavour and value cap the encoder uses, and
the default encoding. Everything else (classification of answers, partial success) is the generic
destination's.

URL composition: trailing slashes of the base are dropped, then the vendor's traces path is appended.
A base that already ends with that path, or with the vendor's OTLP base path (what the vendor's
``OTEL_EXPORTER_OTLP_ENDPOINT`` instructions show, e.g. Grafana's ``.../otlp``), gets only what is
missing, so a URL copied from the vendor's setup page works as well as the bare host.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from ..codec import TraceEncoder
from ..errors import ConfigError
from ._secret import merge_headers
from .base import CommonSettings, Request, Secret
from .otlp import CONTENT_TYPES, OtlpDestination, check_url

__all__ = ["PresetSettings", "OtlpPreset", "join_url", "basic_auth", "check_json_route"]

OTLP_TRACES = "/v1/traces"


class PresetSettings(CommonSettings, kw_only=True, forbid_unknown_fields=True):
    """Settings every preset takes besides its own: the encoding (overridable) and extra resource attributes."""

    encoding: Annotated[Literal["protobuf", "json"], msgspec.Meta(
        description="OTLP body encoding: protobuf or json",
    )] = "protobuf"
    resource: Annotated[dict[str, Any], msgspec.Meta(
        description="extra OTLP resource attributes on every request (service.name defaults to spancast)",
    )] = {}


def join_url(base: str, path: str) -> str:
    """base + path without doubling: trailing slashes dropped, and a base that already ends with the
    path (or with the path's OTLP base, the part before /v1/traces) gets only the rest."""
    base = base.rstrip("/")
    if base.endswith(path):
        return base
    if path.endswith(OTLP_TRACES):
        otlp_base = path[: -len(OTLP_TRACES)]
        if otlp_base and base.endswith(otlp_base):
            return base + OTLP_TRACES
    return base + path


def check_json_route(settings: Any, where: str, route: str) -> None:
    """The checks of a preset's route that sends its own JSON, not OTLP (Opik's REST, Weave's calls): its base
    URL, and none of the OTLP route's settings (route: its name in the messages)."""
    check_url(settings.base_url, f"{where}.baseUrl")
    if settings.encoding != "protobuf":
        raise ConfigError(f"{where}.encoding", f"applies to route: otlp only (the {route} route sends JSON)")
    if settings.resource:
        raise ConfigError(f"{where}.resource", f"applies to route: otlp only (the {route} route has no resource)")


def basic_auth(user: str, password: str) -> Secret:
    """The value of an ``Authorization: Basic`` header (RFC 7617: base64 of user:password, UTF-8)."""
    return Secret("Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii"))


class OtlpPreset(OtlpDestination):
    """A vendor's OTLP/HTTP traces endpoint: base URL setting + path, auth headers, flavour."""

    settings_class = PresetSettings
    #: The settings attribute holding the base URL, and its key as OpenRouter writes it (for errors).
    url_setting: ClassVar[tuple[str, str]] = ("base_url", "baseUrl")
    #: Appended to the base URL ("" for a setting that is the full traces URL).
    path: ClassVar[str] = OTLP_TRACES
    #: The attribute flavour (spancast.codec.plan.FLAVORS).
    flavor: ClassVar[str] = "gen_ai"
    #: String attribute values are cut to this many code points (None: no cut).
    max_value_chars: ClassVar[int | None] = None

    def validate(self, where: str) -> None:
        attr, key = self.url_setting
        check_url(getattr(self.settings, attr), f"{where}.{key}")
        self.check(where)

    def check(self, where: str) -> None:
        """The preset's own checks (credentials and the like); raise ConfigError naming the key."""

    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate (values as Secret, so a repr of them shows '***')."""
        return {}

    @property
    def url(self) -> str:
        base = getattr(self.settings, self.url_setting[0])
        return join_url(base, self.path) if self.path else base

    @property
    def encoding(self) -> str:
        return self.settings.encoding

    def new_encoder(self, format: str | None = None) -> TraceEncoder:
        """An encoder for this destination's rendering (format: the encoding to use instead, for previews)."""
        return TraceEncoder(
            format=format or self.encoding,
            flavor=self.flavor,
            resource=self.settings.resource or None,
            max_value_chars=self.max_value_chars,
            id_salt=self.id_salt,
        )

    def request(self, body: bytes) -> Request:
        own = {**self.auth_headers(), "Content-Type": CONTENT_TYPES[self.encoding]}
        return Request("POST", self.url, merge_headers(self.settings.headers, own), body)
