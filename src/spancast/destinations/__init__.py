"""The destination registry: one module per destination type, built from config-file-shaped mappings."""

from __future__ import annotations

from typing import Any, Mapping

import msgspec

from ..errors import ConfigError
from .base import Destination, Request, snake_case
from .arize import ArizeDestination
from .bigquery import BigQueryDestination
from .braintrust import BraintrustDestination
from .clickhouse import ClickHouseDestination
from .datadog import DatadogDestination
from .elastic import ElasticDestination
from .file import FileDestination
from .grafana import GrafanaDestination
from .langfuse import LangfuseDestination
from .langsmith import LangSmithDestination
from .mlflow import MlflowDestination
from .newrelic import NewRelicDestination
from .opik import OpikDestination
from .opik_rest import OpikRestDestination
from .otlp import OtlpDestination
from .phoenix import PhoenixDestination
from .posthog import PostHogDestination
from .raindrop import RaindropDestination
from .redis import RedisDestination
from .ramp import RampDestination
from .s3 import S3Destination
from .sentry import SentryDestination
from .snowflake import SnowflakeDestination
from .weave import WeaveDestination
from .weave_calls import WeaveCallsDestination
from .webhook import WebhookDestination

__all__ = ["REGISTRY", "ROUTES", "make_destination", "destination_class", "Destination", "Request"]

REGISTRY: dict[str, type[Destination]] = {
    cls.type: cls
    for cls in (
        OtlpDestination,
        WebhookDestination,
        FileDestination,
        S3Destination,
        RedisDestination,
        # vendor OTLP presets
        GrafanaDestination,
        LangfuseDestination,
        LangSmithDestination,
        NewRelicDestination,
        SentryDestination,
        ElasticDestination,
        RampDestination,
        ArizeDestination,
        BraintrustDestination,
        OpikDestination,
        WeaveDestination,
        PhoenixDestination,
        MlflowDestination,
        # JSON event APIs
        PostHogDestination,
        RaindropDestination,
        DatadogDestination,
        # rows
        ClickHouseDestination,
        SnowflakeDestination,
        BigQueryDestination,
    )
}


#: The types whose ``route`` setting picks their class: route -> class. Every route shares its type's settings;
#: REGISTRY holds the class whose module documents the type (the OTLP route's).
ROUTES: dict[str, dict[str, type[Destination]]] = {
    "opik": {"rest": OpikRestDestination, "otlp": OpikDestination},
    "weave": {"calls": WeaveCallsDestination, "otlp": WeaveDestination},
}


def destination_class(kind: str, mapping: Mapping[str, Any]) -> type[Destination]:
    """The class of a known type that handles this entry: for a type with routes, its route's (the
    setting as written, else its default); a route the settings do not know gets the registered class,
    whose settings then refuse it with the reason."""
    cls = REGISTRY[kind]
    routes = ROUTES.get(kind)
    if routes is None:
        return cls
    route = next((value for key, value in mapping.items() if isinstance(key, str) and snake_case(key) == "route"),
                 _default_route(cls))
    return routes.get(route, cls) if isinstance(route, str) else cls


def _default_route(cls: type[Destination]) -> str:
    return next(f.default for f in msgspec.structs.fields(cls.settings_class) if f.name == "route")


def make_destination(mapping: Mapping[str, Any] | Destination, where: str = "destination") -> Destination:
    """The destination a mapping describes ({"type": "otel-collector", "endpoint": ..., ...}); a
    Destination (one a configuration file produced) is taken as it is."""
    if isinstance(mapping, Destination):
        return mapping
    if not isinstance(mapping, Mapping):
        raise ConfigError(where, f"expected a mapping, got {type(mapping).__name__}")
    kind = mapping.get("type")
    if kind not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ConfigError(f"{where}.type", f"unknown destination type {kind!r}; known: {known}")
    return destination_class(kind, mapping)(mapping, where)
