"""README.md as a newcomer uses it: every console command and Python example runs, against local receivers."""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
import shlex
import signal
import subprocess
import sys

from sinkthread import SinkThread
from spancast.testing.sink import Expect, OtlpSink
from conftest import free_port

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
COLLECTOR = "http://127.0.0.1:4318/v1/traces"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README.md has no python example"
    served = SinkThread(OtlpSink())
    with served as sink:
        for block in blocks:
            scope: dict = {}
            exec(compile(block.replace(COLLECTOR, sink.url), "README.md", "exec"), scope)  # noqa: S102
            if "serve" in scope:
                asyncio.run(scope["serve"]())
            if "result" in scope:
                assert len(scope["result"].records) == 1 and scope["result"].errors[0].field == "id"
        got = served.call(lambda s: sorted(g for g in s.generation_ids() if g != "spancast-connection-test"))
    assert got == ["gen-1", "gen-2"]


def test_readme_shows_the_clickhouse_ddl_the_destination_expects():
    from spancast.destinations.clickhouse import DEFAULT_DATABASE, DEFAULT_TABLE, clickhouse_ddl

    (ddl,) = re.findall(r"```sql\n(.*?)```", README.read_text(), re.S)
    assert ddl == clickhouse_ddl(DEFAULT_DATABASE, DEFAULT_TABLE)


# ---------------------------------------------------------------- every console command, in order

CONSOLE = re.compile(r"```console\n(.*?)```", re.S)
ROOT = README.parent
DEFAULT_PORT = "4320"


def readme_commands() -> list[tuple[str, list[str]]]:
    """(command, the output lines the README shows under it), in README order."""
    out: list[tuple[str, list[str]]] = []
    for block in CONSOLE.findall(README.read_text()):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif line.strip():
                assert out, f"output before any command in a console block: {line!r}"
                out[-1][1].append(line)
    return out


TEST_COMMAND = "tests/run"


def test_readme_installs_and_tests_the_way_ci_does():
    """pip install and the test command are not run from here (CI runs them: that is .ci/run, which runs
    the README's one test command and nothing else; tests/run installs the locked environment)."""
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    commands = [c for c, _ in readme_commands()]
    assert "pip install ." in commands and TEST_COMMAND in commands
    assert ci[-1] == TEST_COMMAND and not any(line.split()[0] in ("pip", "python", "python3") for line in ci)
    run = (ROOT / "tests" / "run").read_text()
    assert '--constraint "$LOCK"' in run and "LOCK=tests/constraints.txt" in run and "-m pytest -q" in run


def test_every_readme_command_runs(tmp_path):
    """Each `$ ` line of README.md's console blocks runs in a scratch directory that has the
    repository's examples/ and benchmarks/, with this venv first on PATH; a command exits 0 and prints
    the lines the README shows under it (a shown line ending in "..." is a printed line's beginning). `spancast serve` runs in the background (on a free port, put
    in place of 4320 in the later commands) until the end, then must drain and exit 0 on SIGTERM. The
    collector and Langfuse of examples/spancast.toml are local receivers."""
    for name in ("examples", "benchmarks"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPANCAST_")}
    env["PATH"] = f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    port = str(free_port())
    server: subprocess.Popen | None = None
    ran = []
    with SinkThread(OtlpSink(Expect(path="/*"))) as sink:
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = sink.base_url + "/v1/traces"
        env["LANGFUSE_HOST"] = sink.base_url
        try:
            for command, shown in readme_commands():
                if command.startswith("pip install") or command.startswith(TEST_COMMAND):
                    continue  # see test_readme_installs_and_tests_the_way_ci_does
                command = command.replace(f":{DEFAULT_PORT}", f":{port}")
                if command.startswith("spancast bench "):
                    # The suite, its options and its output files are what is checked here; a --quick run
                    # is a minute of timing that says nothing more (timings are never asserted on).
                    command = command.replace("--quick", "--smoke")
                if command.startswith("export "):
                    for assignment in shlex.split(command)[1:]:
                        key, _, value = assignment.partition("=")
                        env[key] = value
                    continue
                if command.startswith("spancast serve"):
                    server = subprocess.Popen(shlex.split(command) + ["--port", port], cwd=tmp_path, env=env,
                                              stderr=subprocess.PIPE, text=True)
                    for line in server.stderr:  # the announcement comes once it listens
                        if "serving on" in line:
                            break
                    else:
                        raise AssertionError(f"{command!r} exited with {server.wait()}")
                    ran.append(command)
                    continue
                done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                                      timeout=600)
                assert done.returncode == 0, f"{command!r} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
                printed = [p.rstrip() for p in done.stdout.splitlines()]  # tables pad their last column
                for line in shown:  # "..." at the end of a shown line stands for what varies (a latency)
                    head = line.removesuffix("...")
                    found = any(p.startswith(head) for p in printed) if head != line else line in printed
                    assert found, f"{command!r} did not print {line!r}:\n{done.stdout}"
                ran.append(command)
        finally:
            if server is not None:
                server.send_signal(signal.SIGTERM)
                code = server.wait(60)
        assert server is not None and code == 0
    assert len(ran) >= 10
