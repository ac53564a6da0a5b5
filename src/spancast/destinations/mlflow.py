"""MLflow 3 (``mlflow``): OTLP/HTTP to ``<trackingUri>/v1/traces`` with ``x-mlflow-experiment-id``, the ``mlflow`` flavour.

Not an OpenRouter destination; with Phoenix the most used self-hosted LLM observability backend, so
first-class here. Settings: ``trackingUri`` (default ``http://localhost:5000``, ``mlflow server``'s),
``experimentId`` (required: the experiment's numeric id; experiment 0 is "Default"), ``runId``
(optional: links the traces to a run), ``token`` (optional: a server behind authentication),
``headers``, ``encoding``, ``resource``.

Wire, and what each part rests on (mlflow 3.17 ``mlflow/server/otel_api.py`` and
``mlflow/tracing/utils/otlp.py``, checked against a real ``mlflow server`` by tests/fidelity):

- URL: ``<trackingUri>/v1/traces``; protobuf or JSON (protobuf by default).
- ``x-mlflow-experiment-id`` is required (422 without it, 404 for an unknown experiment);
  ``x-mlflow-run-id`` when a run is given.
- Auth: ``Authorization: Bearer <token>`` when a token is set.
- A request is all or nothing (one bad span: 422 for the batch), and an empty one is refused (400).
- Attributes: the ``mlflow`` flavour: MLflow's own span attributes, which its ingestion keeps as they
  are: ``mlflow.spanType``, inputs and outputs in OpenAI's chat shapes (the chat view and the trace
  previews), ``mlflow.chat.tokenUsage``, ``mlflow.llm.cost`` (the record's cost, where MLflow would
  otherwise estimate its own), model and provider; user and session (trace metadata), custom trace
  keys as trace tags; the trace's name is its root span's, which trace_name names.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from ..errors import ConfigError
from ._preset import OtlpPreset, PresetSettings
from ._secret import check_header_value
from .base import Secret

__all__ = ["MlflowSettings", "MlflowDestination", "DEFAULT_URL"]

DEFAULT_URL = "http://localhost:5000"


class MlflowSettings(PresetSettings, kw_only=True, forbid_unknown_fields=True):
    experiment_id: Annotated[str, msgspec.Meta(
        description="the MLflow experiment's id (a number; 0 is Default), sent as x-mlflow-experiment-id",
    )]
    tracking_uri: Annotated[str, msgspec.Meta(
        description="MLflow tracking server URL (mlflow server's port 5000); /v1/traces appended",
    )] = DEFAULT_URL
    run_id: Annotated[str | None, msgspec.Meta(
        description="a run the traces are linked to (x-mlflow-run-id); none: no run",
    )] = None
    token: Annotated[Secret | None, msgspec.Meta(
        description="bearer token of a tracking server behind authentication",
    )] = None


class MlflowDestination(OtlpPreset):
    """Traces to an MLflow experiment, in MLflow's own span attributes."""

    type = "mlflow"
    settings_class = MlflowSettings
    url_setting = ("tracking_uri", "trackingUri")
    flavor = "mlflow"

    def check(self, where: str) -> None:
        s = self.settings
        if not s.experiment_id.isdigit():
            raise ConfigError(f"{where}.experimentId", "expected the experiment's numeric id (MLflow answers 400 to others)")
        if s.run_id is not None:
            check_header_value(s.run_id, f"{where}.runId")
        if s.token is not None:
            check_header_value(s.token, f"{where}.token")

    def auth_headers(self) -> dict[str, Any]:
        s = self.settings
        headers: dict[str, Any] = {"x-mlflow-experiment-id": s.experiment_id}
        if s.run_id is not None:
            headers["x-mlflow-run-id"] = s.run_id
        if s.token is not None:
            headers["Authorization"] = Secret(f"Bearer {s.token}")
        return headers

    def hint(self, status: int | None, excerpt: str) -> str | None:
        if status == 404 and "Experiment" in excerpt:
            return "no experiment with that id on this server: create it, or give experimentId of an existing one"
        return None
