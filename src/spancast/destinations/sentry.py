"""Sentry (``sentry``): OTLP/HTTP to the project's OTLP traces URL, authenticated by the DSN's public key.

Settings, as OpenRouter names them: ``otlpEndpoint`` (required: the full "OTLP Traces Endpoint" from
Project Settings > Client Keys (DSN), e.g.
``https://o123.ingest.us.sentry.io/api/456/integration/otlp/v1/traces``), ``dsn`` (required: the
project's DSN, ``https://<public key>@<host>/<project id>``), ``headers``. Plus spancast's
``encoding`` and ``resource``.

Wire, and what each part rests on (Sentry, "Direct OTLP Traces",
https://docs.sentry.io/concepts/otlp/direct/traces/):

- URL: ``otlpEndpoint`` exactly as given (it is already the full traces URL).
- Auth: ``x-sentry-auth: sentry sentry_key=<public key>``, the public key taken from the DSN (which is
  why OpenRouter asks for the DSN). A DSN that does not read as
  ``https://<public key>[:<secret>]@<host>[/<path>]/<project id>[/]`` is refused; the message never
  repeats it.
- Encoding: protobuf by default (Sentry's collector example sets ``encoding: proto``; the endpoint is
  OTLP/HTTP and takes JSON too). ``encoding: json`` switches.
- Limits (Sentry, https://docs.sentry.io/concepts/otlp/): span events are dropped and array attributes
  only partly supported; spancast sends no span events.
- Attributes: the ``gen_ai`` flavour (``trace.metadata.*``, ``user.id``, ``session.id``).
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from ..errors import ConfigError
from ._preset import OtlpPreset, PresetSettings
from .base import Destination, Secret

__all__ = ["SentrySettings", "SentryDestination", "DSN", "public_key"]

#: scheme, public key, optional secret, host (and port), optional path, numeric project id.
DSN = re.compile(r"^https://(?P<key>[0-9A-Za-z]+)(?::[0-9A-Za-z]+)?@[0-9A-Za-z.-]+(?::\d+)?(?:/[^\s/?#]+)*/(?P<project>\d+)/?$")


def public_key(dsn: str) -> str | None:
    """The public key of a DSN; None when the text is not a DSN."""
    match = DSN.match(dsn)
    return match.group("key") if match else None


class SentrySettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    otlp_endpoint: Annotated[str, msgspec.Meta(
        description="the project's full OTLP traces URL (Project Settings > Client Keys (DSN)), used as is",
    )]
    dsn: Annotated[Secret, msgspec.Meta(
        description="the project's DSN, https://{public key}@{host}/{project id}: its public key authenticates",
    )]


class SentryDestination(OtlpPreset):
    """Spans to a Sentry project's OTLP traces endpoint."""

    type = "sentry"
    settings_class = SentrySettings
    url_setting = ("otlp_endpoint", "otlpEndpoint")
    path = ""  # the setting is the full URL
    secret_headers = Destination.secret_headers | {"x-sentry-auth"}

    def check(self, where: str) -> None:
        if public_key(self.settings.dsn) is None:
            raise ConfigError(
                f"{where}.dsn",
                "expected a Sentry DSN, https://<public key>@<host>/<project id> (Client Keys (DSN) in the project settings)",
            )

    def secret_values(self) -> list[str]:
        """The DSN's public key alone (spancast.scrub masks it wherever a receiver repeats it)."""
        return [key for key in (public_key(self.settings.dsn),) if key]

    def auth_headers(self) -> dict[str, str]:
        return {"x-sentry-auth": Secret(f"sentry sentry_key={public_key(self.settings.dsn)}")}
