"""spancast serve --workers N: N processes serving one port, so that serve uses every core.

The supervisor (the process started) checks it can bind the address, makes the metrics directory
(PROMETHEUS_MULTIPROC_DIR, metrics_multiprocess.py) and starts N workers: `spancast serve --worker K`
in a session of their own, each listening with SO_REUSEPORT (the kernel spreads connections over them),
each with its own pipeline and, with a spool, its own subdirectory ``<spool.directory>/worker-K`` (a
restart with the same N replays each worker's own). The supervisor holds the address bound meanwhile,
without listening, so that port 0 means one port for all.

One SIGTERM or SIGINT to the supervisor is passed to every worker, which drains as a single serve does;
a second is passed on too (the workers then exit at once). Workers die with the supervisor
(PR_SET_PDEATHSIG), and a worker that exits early is logged while the others go on. The exit status is
the largest of the workers' (a worker killed by signal n counts as 128 + n): 0 when every one delivered
or spooled what it took, 1 when one lost records, 2 when one could not start.
"""

from __future__ import annotations

import ctypes
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from .errors import SpancastError

__all__ = ["READY", "Supervisor", "worker_spool"]

log = logging.getLogger("spancast.server")
READY = "spancast-worker-ready"  # the line a worker writes to its stdout once it listens
START_TIMEOUT_S = 120.0
_PR_SET_PDEATHSIG = 1


def worker_spool(directory: str, index: int) -> str:
    return os.path.join(directory, f"worker-{index}")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the workers outlive a killed supervisor
        pass


class Supervisor:
    """Starts, watches and stops the workers of one spancast serve --workers N."""

    def __init__(self, workers: int, host: str, port: int, worker_args: Sequence[str]) -> None:
        self.workers, self.host, self.port = workers, host, port
        self.worker_args = list(worker_args)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.metrics_dir: str | None = None
        self.signals: list[int] = []
        self._holder: socket.socket | None = None

    def bind(self) -> None:
        """Hold host:port (SO_REUSEPORT, not listening): OSError when it cannot be had; port 0 becomes one port."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        holder = socket.socket(family, socket.SOCK_STREAM)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            holder.bind((self.host, self.port))
        except OSError:
            holder.close()
            raise
        self.port = holder.getsockname()[1]
        self._holder = holder

    def start(self) -> None:
        """Start every worker and wait until each listens (within START_TIMEOUT_S in all); WorkerFailed, with the
        worker's status, when one exits, says something else first, or is not listening in time."""
        self.metrics_dir = tempfile.mkdtemp(prefix="spancast-metrics-")
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir}
        for k in range(self.workers):
            command = [sys.executable, "-m", "spancast.cli", "serve", "--worker", str(k), "--host", self.host,
                       "--port", str(self.port), *self.worker_args]
            self.procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, start_new_session=True,
                                               preexec_fn=_die_with_parent))
        deadline = time.monotonic() + START_TIMEOUT_S
        for k, proc in enumerate(self.procs):
            assert proc.stdout is not None
            line = _first_line(proc.stdout, deadline - time.monotonic())  # the worker's one line, EOF or None
            proc.stdout.close()
            if line != READY:
                if proc.poll() is None:  # stuck in start-up, or it said something else: it will not serve
                    proc.kill()
                code = proc.wait()
                self.stop_all(signal.SIGTERM)
                self.wait_all()
                raise WorkerFailed(k, 128 - code if code < 0 else code)

    def forward(self, signum: int, frame: Any = None) -> None:
        """A signal to the supervisor: passed to every worker (the first drains, a second exits at once)."""
        self.signals.append(signum)
        self.stop_all(signum)

    def stop_all(self, signum: int) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    proc.send_signal(signum)
                except ProcessLookupError:
                    pass

    def wait_all(self, on_exit: Callable[[int, int], None] | None = None) -> list[int]:
        """Wait for every worker; on_exit(index, status) as each ends. Statuses as exit codes (128 + n: signal n)."""
        statuses: dict[int, int] = {}
        while len(statuses) < len(self.procs):
            for k, proc in enumerate(self.procs):
                if k in statuses:
                    continue
                try:
                    code = proc.wait(0.2)
                except subprocess.TimeoutExpired:
                    continue
                statuses[k] = 128 - code if code < 0 else code
                self._mark_dead(proc.pid)
                if on_exit is not None:
                    on_exit(k, statuses[k])
        return [statuses[k] for k in range(len(self.procs))]

    def _mark_dead(self, pid: int) -> None:
        if self.metrics_dir is not None:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, self.metrics_dir)  # its live gauges stop counting

    def close(self) -> None:
        if self._holder is not None:
            self._holder.close()
            self._holder = None
        if self.metrics_dir is not None:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
            self.metrics_dir = None

    def __repr__(self) -> str:
        alive = sum(p.poll() is None for p in self.procs)
        return f"<Supervisor {self.host}:{self.port} workers={self.workers} alive={alive} signals={self.signals}>"


def _first_line(stream: Any, timeout_s: float) -> str | None:
    """The first line a worker writes (without its newline), "" at EOF, None when none comes in time."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(max(timeout_s, 0.0)):
            return None
    return stream.readline().decode(errors="replace").strip()  # a worker writes its line whole


class WorkerFailed(SpancastError):
    """A worker exited before it listened: ``index`` and its exit ``status``."""

    def __init__(self, index: int, status: int) -> None:
        super().__init__(f"worker {index} exited with status {status} before it listened")
        self.index, self.status = index, status
