"""Test helper: a real redis-server the tests start themselves, on a free port, in a temp dir, gone at teardown."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from conftest import free_port, require_server

REDIS_SERVER = shutil.which("redis-server") or shutil.which("/usr/bin/redis-server")
START_DEADLINE_S = 10.0


class RedisServer:
    """``redis-server`` on 127.0.0.1 with nothing persisted; ``password`` turns requirepass on."""

    def __init__(self, directory, password: str | None = None) -> None:
        self.directory = directory
        self.password = password
        self.port = 0
        self.process: subprocess.Popen | None = None

    def start(self, port: int | None = None) -> RedisServer:
        """Start on port (a free one when None) and wait until it answers PING."""
        for _ in range(1 if port else 5):  # a port free a moment ago may be taken by another process first
            self.port = port or free_port()
            args = [require_server("redis-server", REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", str(self.directory), "--loglevel", "warning"]
            if self.password:
                args += ["--requirepass", self.password]
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_for_ping():
                return self
            self.stop()
        raise RuntimeError("redis-server did not start")

    def _wait_for_ping(self) -> bool:
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    answer = conn.recv(64)
                if answer.startswith((b"+PONG", b"-NOAUTH")):
                    return True
            except OSError:
                pass
            time.sleep(0.02)  # polling for the server to listen, under the deadline above
        return False

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self, **kwargs):
        """A synchronous redis-py client for the test's own checks."""
        import redis

        return redis.Redis.from_url(self.url, **kwargs)

    def __enter__(self) -> RedisServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None
