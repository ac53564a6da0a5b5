"""Real Arize Phoenix and MLflow servers for the fidelity suite: started from their own venvs, read back over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
#: How long a server may take to come up (both took 15-20 s on the 2-core VM, migrations included).
START_TIMEOUT_S = 180.0


def venv_bin(name: str, program: str) -> Path:
    """.venv-<name>/bin/<program>, or a failure saying how to install it (never a skip)."""
    path = ROOT / f".venv-{name}" / "bin" / program
    if not path.exists():
        pytest.fail(f"{path} is missing: run tests/run, which installs .venv-{name} from tests/locks/{name}.txt",
                    pytrace=False)
    return path


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout_s: float = 30.0) -> tuple[int, bytes]:
    """One request; (status, body) whatever the status. A dict or list body goes as JSON."""
    data = body
    head = dict(headers or {})
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        head.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=head)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(what: str, condition: Callable[[], Any], timeout_s: float, process: subprocess.Popen | None = None,
             log: Path | None = None) -> Any:
    """condition()'s first truthy result, polled until timeout_s; fails naming what never happened."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            pytest.fail(f"{what}: the server exited with {process.returncode}\n{tail}", pytrace=False)
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            pytest.fail(f"{what}: not within {timeout_s:.0f} s\n{tail}", pytrace=False)
        time.sleep(delay)  # polling a condition, with a deadline: never a fixed wait
        delay = min(delay * 2, 0.5)


@dataclass
class Server:
    """A server process the tests started, and where it listens."""

    name: str
    base_url: str
    process: subprocess.Popen
    log: Path
    info: dict[str, Any] = field(default_factory=dict)

    def up(self) -> bool:
        try:
            status, _ = http("GET", self.base_url + self.info["health"], timeout_s=2)
        except OSError:
            return False
        return status == 200

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class PhoenixServer(Server):
    """Phoenix, with what tests read of it by name (the collision test's interface)."""

    @property
    def otlp_url(self) -> str:
        """Phoenix's OTLP/HTTP traces URL (protobuf only)."""
        return self.base_url + "/v1/traces"

    def spans(self, project: str) -> list[dict[str, Any]]:
        """Every span of a project (phoenix_spans); [] while the project does not exist."""
        return phoenix_spans(self, project)


class MlflowServer(Server):
    """MLflow, with what tests read of it by name (the collision test's interface)."""

    @property
    def otlp_url(self) -> str:
        """MLflow's OTLP/HTTP traces URL (the experiment goes in x-mlflow-experiment-id)."""
        return self.base_url + "/v1/traces"

    def experiment(self, name: str) -> str:
        """A new experiment's id (mlflow_experiment)."""
        return mlflow_experiment(self, name)

    def traces(self, experiment_id: str) -> list[dict[str, Any]]:
        """Every trace of the experiment, {"info", "spans"} each (mlflow_traces)."""
        return mlflow_traces(self, experiment_id)


def _launch(kind: type[Server], name: str, argv: list[str], env: dict[str, str], workdir: Path, port: int,
            health: str) -> Server:
    log = workdir / f"{name}.log"
    process = subprocess.Popen(argv, env={**os.environ, **env}, cwd=workdir, stdout=log.open("wb"),
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return kind(name, f"http://127.0.0.1:{port}", process, log, {"health": health})


def start_phoenix(workdir: Path) -> PhoenixServer:
    """phoenix serve on loopback ports with its SQLite database in workdir (OTLP/HTTP at /v1/traces)."""
    port, grpc = free_port(), free_port()
    env = {"PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port), "PHOENIX_GRPC_PORT": str(grpc),
           "PHOENIX_WORKING_DIR": str(workdir), "PHOENIX_TELEMETRY_ENABLED": "false"}
    return _launch(PhoenixServer, "phoenix", [str(venv_bin("phoenix", "phoenix")), "serve"], env, workdir, port,
                   "/healthz")


def start_mlflow(workdir: Path) -> MlflowServer:
    """mlflow server on a loopback port with a SQLite store in workdir (OTLP/HTTP at /v1/traces)."""
    port = free_port()
    argv = [str(venv_bin("mlflow", "mlflow")), "server", "--backend-store-uri", f"sqlite:///{workdir}/mlflow.db",
            "--default-artifact-root", str(workdir / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1"]
    env = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    return _launch(MlflowServer, "mlflow", argv, env, workdir, port, "/health")


def start_all(workdir: Path) -> dict[str, Server]:
    """Both servers, started side by side (each takes 15-20 s to come up), then waited for."""
    servers = {}
    try:
        for name, start in (("phoenix", start_phoenix), ("mlflow", start_mlflow)):
            directory = workdir / name
            directory.mkdir()
            servers[name] = start(directory)
        for server in servers.values():
            wait_for(f"{server.name} answering {server.info['health']}", server.up, START_TIMEOUT_S,
                     server.process, server.log)
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


# ---------------------------------------------------------------- reading back


def phoenix_spans(server: Server, project: str) -> list[dict[str, Any]]:
    """Every span of a project as Phoenix's REST API returns it (attributes flat, dotted keys)."""
    spans, cursor = [], None
    while True:
        url = f"{server.base_url}/v1/projects/{project}/spans?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        status, body = http("GET", url)
        if status == 404:
            return []
        assert status == 200, (status, body[:300])
        doc = json.loads(body)
        spans += doc["data"]
        cursor = doc.get("next_cursor")
        if not cursor:
            return spans


def phoenix_costs(server: Server, span_ids: list[str]) -> dict[str, float | None]:
    """What Phoenix's UI shows as each span's cost (its GraphQL costSummary), by Phoenix span id."""
    fields = " ".join(f'n{i}: node(id: "{sid}") {{ ... on Span {{ costSummary {{ total {{ cost }} }} }} }}'
                      for i, sid in enumerate(span_ids))
    status, body = http("POST", server.base_url + "/graphql", {"query": "{ " + fields + " }"})
    assert status == 200, body[:300]
    data = json.loads(body)["data"]
    out = {}
    for i, sid in enumerate(span_ids):
        summary = (data.get(f"n{i}") or {}).get("costSummary") or {}
        out[sid] = (summary.get("total") or {}).get("cost")
    return out


def mlflow_experiment(server: Server, name: str) -> str:
    status, body = http("POST", server.base_url + "/api/2.0/mlflow/experiments/create", {"name": name})
    assert status == 200, body[:300]
    return json.loads(body)["experiment_id"]


def mlflow_traces(server: Server, experiment_id: str) -> list[dict[str, Any]]:
    """Every trace of an experiment with its spans: trace_info as searched, spans as fetched."""
    search = {"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}],
              "max_results": 500}
    status, body = http("POST", server.base_url + "/api/3.0/mlflow/traces/search", search)
    assert status == 200, body[:300]
    traces = []
    for info in json.loads(body).get("traces", []):
        status, body = http("GET", f"{server.base_url}/api/3.0/mlflow/traces/get?trace_id={info['trace_id']}")
        assert status == 200, body[:300]
        traces.append({"info": info, "spans": json.loads(body)["trace"]["spans"]})
    return traces
