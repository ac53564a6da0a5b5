"""The destination registry: one module per destination type, built from config-file-shaped mappings."""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import ConfigError
from .base import Destination, Request
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
from .webhook import WebhookDestination

__all__ = ["REGISTRY", "make_destination", "Destination", "Request"]

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
    return REGISTRY[kind](mapping, where)
