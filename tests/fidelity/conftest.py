"""The real servers of the fidelity suite: one Phoenix and one MLflow per test session, shared by every test."""

from __future__ import annotations

import pytest

from fidelity.servers import start_all


@pytest.fixture(scope="session")
def servers(tmp_path_factory):
    """Phoenix and MLflow, started once (side by side) and stopped when the session ends."""
    started = start_all(tmp_path_factory.mktemp("servers"))
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(scope="session")
def phoenix(servers):
    """The Phoenix server (fidelity.servers.PhoenixServer: .base_url, .otlp_url, .spans(project))."""
    return servers["phoenix"]


@pytest.fixture(scope="session")
def mlflow(servers):
    """The MLflow server (fidelity.servers.MlflowServer: .base_url, .otlp_url, .experiment(name), .traces(id))."""
    return servers["mlflow"]
