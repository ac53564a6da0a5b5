"""The destination registry: one module per destination type, built from config-file-shaped mappings."""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import ConfigError
from .base import Destination, Request
from .file import FileDestination
from .otlp import OtlpDestination
from .webhook import WebhookDestination

__all__ = ["REGISTRY", "make_destination", "Destination", "Request"]

REGISTRY: dict[str, type[Destination]] = {
    cls.type: cls for cls in (OtlpDestination, WebhookDestination, FileDestination)
}


def make_destination(mapping: Mapping[str, Any], where: str = "destination") -> Destination:
    """The destination a mapping describes ({"type": "otel-collector", "endpoint": ..., ...})."""
    if not isinstance(mapping, Mapping):
        raise ConfigError(where, f"expected a mapping, got {type(mapping).__name__}")
    kind = mapping.get("type")
    if kind not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ConfigError(f"{where}.type", f"unknown destination type {kind!r}; known: {known}")
    return REGISTRY[kind](mapping, where)
