"""A new user's first hour: every stumble found by trying spancast from a fresh clone, each fixed and kept so."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port
from sinkthread import SinkThread
from spancast.testing.sink import OtlpSink

ROOT = Path(__file__).resolve().parent.parent
SPANCAST = [sys.executable, "-m", "spancast.cli"]


def spancast(*argv: str, cwd: Path, env: dict | None = None, stdin: str | None = None,
             timeout_s: float = 120) -> subprocess.CompletedProcess:
    """The command as a user runs it: its own process, an 80-column terminal's width."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SPANCAST_")}
    environ.update({"COLUMNS": "80", **(env or {})})
    return subprocess.run([*SPANCAST, *argv], cwd=cwd, env=environ, capture_output=True, text=True,
                          input=stdin, timeout=timeout_s)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def collector(tmp_path: Path, endpoint: str, name: str = "collector", extra: str = "") -> Path:
    return write(tmp_path / "spancast.toml", f"""
        [pipeline]
        flush_interval_s = 0.05
        [pipeline.retry]
        max_attempts = 1
        [[destinations]]
        type = "otel-collector"
        name = "{name}"
        endpoint = "{endpoint}"
        {extra}
        """)


# ---------------------------------------------------------------- serve: arguments and start-up


def test_serve_with_a_port_out_of_range_is_a_bad_argument(tmp_path):
    done = spancast("serve", "--port", "99999", cwd=tmp_path, timeout_s=20)
    assert done.returncode == 2 and "a port is 0 to 65535" in done.stderr and "Traceback" not in done.stderr


def test_serve_on_a_port_in_use_says_so_once_and_closes_cleanly(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = spancast("serve", "--port", str(port), cwd=tmp_path, timeout_s=60)
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}: " in done.stderr and "in use" in done.stderr
    assert "Unclosed" not in done.stderr and "Traceback" not in done.stderr


def serve_until_ready(tmp_path: Path, config: Path) -> tuple[subprocess.Popen, str, list[str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPANCAST_")}
    proc = subprocess.Popen([*SPANCAST, "serve", "--config", str(config), "--port", str(port)], cwd=tmp_path,
                            env=env, stderr=subprocess.PIPE, text=True)
    said = []
    for line in proc.stderr:
        said.append(line)
        if "serving on" in line:
            break
    else:
        raise AssertionError(f"serve exited {proc.wait()}: {''.join(said)}")
    return proc, f"http://127.0.0.1:{port}", said


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_says_it_runs_on_uvloop(tmp_path):
    import uvloop  # installed with spancast wherever it has a build (pyproject's dependencies)

    proc, url, said = serve_until_ready(tmp_path, collector(tmp_path, "http://127.0.0.1:9/v1/traces"))
    try:
        assert f"on uvloop {uvloop.__version__}" in said[-1]
    finally:
        proc.terminate()
        proc.wait(60)


def test_a_missing_uvloop_is_logged_once_and_the_stdlib_loop_runs(caplog):
    code = textwrap.dedent("""
        import asyncio, builtins, logging
        real = builtins.__import__
        def no_uvloop(name, *args, **kwargs):
            if name == "uvloop":
                raise ImportError("No module named 'uvloop'")
            return real(name, *args, **kwargs)
        builtins.__import__ = no_uvloop
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        from spancast._loop import loop_name, new_loop
        loops = [new_loop(), new_loop()]
        print(type(loops[0]).__module__, loop_name(loops[1]))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["asyncio.unix_events", "asyncio"], done.stderr
    assert done.stderr.count("uvloop is not installed") == 1 and "pip install uvloop" in done.stderr


def test_no_destination_is_a_warning_and_readyz_says_so(tmp_path):
    empty = write(tmp_path / "empty.toml", "[pipeline]\nflush_interval_s = 0.1\n")
    checked = spancast("check", str(empty), cwd=tmp_path)
    assert checked.returncode == 0 and "no destination is configured" in checked.stderr
    shown = json.loads(spancast("check", str(empty), "--json", cwd=tmp_path).stdout)
    assert shown["warnings"] == ["records would go nowhere: no destination is configured and enabled"]
    proc, url, said = serve_until_ready(tmp_path, empty)
    try:
        status, answer = get(url + "/readyz")
        assert status == 503 and "no destination" in answer["reason"]
    finally:
        proc.terminate()
        rest = proc.stderr.read()
        proc.wait(60)
    assert "records are accepted and go nowhere" in "".join(said) + rest


def test_a_token_that_is_not_a_string_is_a_problem_not_a_crash(tmp_path):
    config = collector(tmp_path, "http://127.0.0.1:9/v1/traces")
    config.write_text("[server]\ntoken = 12345\n" + config.read_text())
    checked = spancast("check", str(config), cwd=tmp_path)
    assert checked.returncode == 1 and "server.token: expected a string, got int" in checked.stderr
    served = spancast("serve", "--config", str(config), cwd=tmp_path, timeout_s=60)
    assert served.returncode == 2 and "server.token: expected a string, got int" in served.stderr
    assert "12345" not in checked.stderr + served.stderr and "Traceback" not in served.stderr


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nothing can be written in, for root too (a read-only tmpfs) or by its mode."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, f"root could not mount a read-only tmpfs here: {done.stderr}"
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


@pytest.mark.parametrize("case", ["a file in the way", "read-only"])
def test_spool_directory_problems_are_named_by_check_and_serve(tmp_path, read_only_dir, case):
    if case == "a file in the way":
        (tmp_path / "blocker").write_text("")
        directory, reason = tmp_path / "blocker" / "spool", "a file is in the way"
    else:
        directory, reason = read_only_dir / "spool", "cannot create it"
    config = collector(tmp_path, "http://127.0.0.1:9/v1/traces")
    config.write_text(config.read_text() + f'\n[spool]\ndirectory = "{directory}"\n')
    checked = spancast("check", str(config), cwd=tmp_path)
    assert checked.returncode == 1 and f"spool directory {directory}: {reason}" in checked.stderr, checked.stderr
    served = spancast("serve", "--config", str(config), "--port", "0", cwd=tmp_path, timeout_s=60)
    assert served.returncode == 2 and f"spool directory {directory}: {reason}" in served.stderr, served.stderr
    assert "cannot listen" not in served.stderr and "Traceback" not in served.stderr


# ---------------------------------------------------------------- commands that did nothing and said 0


def test_send_of_an_empty_file_is_an_error(tmp_path):
    (tmp_path / "empty.ndjson").write_text("\n")
    config = collector(tmp_path, "http://127.0.0.1:9/v1/traces")
    done = spancast("send", "empty.ndjson", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2 and "empty.ndjson holds no records" in done.stderr
    done = spancast("send", "-", "--config", str(config), cwd=tmp_path, stdin="")
    assert done.returncode == 2 and "standard input holds no records" in done.stderr


@pytest.mark.parametrize("argv", [["demo", "--records", "-5"], ["demo", "--records", "0"]])
def test_demo_needs_at_least_one_record(tmp_path, argv):
    done = spancast(*argv, cwd=tmp_path)
    assert done.returncode == 2 and "expected 1 or more" in done.stderr


def test_check_of_two_files_is_an_error(tmp_path):
    one = collector(tmp_path, "http://127.0.0.1:9/v1/traces")
    other = write(tmp_path / "other.toml", "[pipeline]\n")
    done = spancast("check", str(one), "--config", str(other), cwd=tmp_path)
    assert done.returncode == 2 and "two configurations given" in done.stderr


# ---------------------------------------------------------------- messages


def test_send_names_the_host_and_port_it_could_not_reach(tmp_path):
    port = free_port()
    config = collector(tmp_path, f"http://127.0.0.1:{port}/v1/traces")
    done = spancast("send", str(ROOT / "examples" / "generations.ndjson"), "--config", str(config),
                    "--timeout-s", "10", cwd=tmp_path)
    assert done.returncode == 1
    assert (f"collector: dropped: retries_exhausted 3; last error: retries exhausted after 1 attempt: "
            f"connection refused by 127.0.0.1:{port}") in done.stdout


def test_bad_lines_are_reported_once_each_and_well_written(tmp_path):
    good = json.dumps({"id": "g", "start_time_ns": 1, "end_time_ns": 2, "model": "m"})
    (tmp_path / "mixed.ndjson").write_text(f'{good}\n[{good}, {good}]\n{{"id": "x", oops}}\n')
    with SinkThread(OtlpSink()) as sink:
        done = spancast("send", "mixed.ndjson", "--config", str(collector(tmp_path, sink.url)), cwd=tmp_path)
    lines = done.stderr.splitlines()
    assert done.returncode == 1
    assert len(lines) == 2, lines
    assert lines[0] == "invalid record at line 2: <record>: a JSON array on one line: NDJSON holds one object per line"
    assert lines[1].startswith("invalid record at line 3: <record>: JSON is malformed: "), lines  # not "jSON"


def test_a_mistyped_key_is_answered_with_the_closest_valid_one(tmp_path):
    config = collector(tmp_path, "http://127.0.0.1:9/v1/traces", extra='compresion = "gzip"')
    done = spancast("check", str(config), cwd=tmp_path)
    assert done.returncode == 1
    assert "destinations[0].compresion: unknown key; did you mean `compression`? expected one of " in done.stderr
    assert "endpoint" in done.stderr and "1 problem" in done.stderr
    openrouter = tmp_path / "destinations.json"
    openrouter.write_text(json.dumps([{"type": "langfuse", "config": {"publicKy": "pk", "secretKey": "sk"}}]))
    done = spancast("check", str(openrouter), cwd=tmp_path)
    assert "[0].config.publicKy: unknown key; did you mean `publicKey`?" in done.stderr
    assert "1 problem" in done.stderr  # not also "publicKey missing": the typo stands for it


def test_help_has_no_stray_markup(tmp_path):
    done = spancast("--help", cwd=tmp_path)
    assert done.returncode == 0 and "::" not in done.stdout and "Exit codes (the same for every command):" in done.stdout


# ---------------------------------------------------------------- 80 columns


def test_result_tables_fit_80_columns_and_cut_nothing(tmp_path):
    name = "production-collector-eu"
    port = free_port()
    config = collector(tmp_path, f"http://127.0.0.1:{port}/v1/traces", name=name)
    outputs = [spancast("send", str(ROOT / "examples" / "generations.ndjson"), "--config", str(config),
                        "--timeout-s", "10", cwd=tmp_path).stdout,
               spancast("test", "--config", str(config), cwd=tmp_path).stdout,
               spancast("check", str(config), cwd=tmp_path).stdout]
    for out in outputs:
        assert out and "…" not in out, out
        # Below a table, "name: why" lines hold what is too long for a cell, whole (the terminal wraps them).
        tables = [line for line in out.splitlines() if not line.startswith((f"{name}:", f"failed {name}:"))]
        assert all(len(line) <= 80 for line in tables), out
        assert any(line.startswith(f"{name}   ") for line in tables), out
    assert f"connection refused by 127.0.0.1:{port}" in outputs[0] and f"127.0.0.1:{port}" in outputs[1]
    assert "nothing listens there: check the host and port" in outputs[1]


# ---------------------------------------------------------------- installs and benchmarks


def test_a_build_without_a_compiler_says_how_to_build_without_the_extension(tmp_path):
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "native", tmp_path / "native")
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    env = {**os.environ, "CC": str(tmp_path / "no-such-cc")}
    done = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--build-temp", "t", "--build-lib", "l"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "could not be compiled" in done.stderr and "SPANCAST_NO_EXTENSIONS=1 pip install ." in done.stderr


def test_bench_without_the_bench_extra_says_what_to_install(tmp_path):
    code = textwrap.dedent("""
        import builtins, sys
        real = builtins.__import__
        def without_sdk(name, *args, **kwargs):
            if name.startswith("opentelemetry.sdk"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return real(name, *args, **kwargs)
        builtins.__import__ = without_sdk
        from benchmarks.__main__ import main
        sys.exit(main(["encode", "--smoke"]))
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "needs opentelemetry.sdk" in done.stderr and "pip install '.[bench]'" in done.stderr


def test_the_encode_suite_measures_the_python_twin_without_the_extension(tmp_path):
    env = {**os.environ, "SPANCAST_NO_EXTENSIONS": "1"}
    done = subprocess.run([sys.executable, "-m", "benchmarks", "encode", "--smoke", "--out", str(tmp_path)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "not built (a pure-Python install" in done.stdout and "spancast python twin" in done.stdout
    assert "spancast native" not in done.stdout
    (csv,) = tmp_path.glob("encode-*.csv")
    assert "python" in csv.read_text() and ",native," not in csv.read_text()


def test_a_missing_server_fails_its_tests_with_the_install_command(tmp_path, monkeypatch):
    import redisserver

    monkeypatch.setattr(redisserver, "REDIS_SERVER", None)
    with pytest.raises(pytest.fail.Exception, match="redis-server is not installed: run tests/run, which installs "
                                                    "it, or apt-get install redis-server"):
        redisserver.RedisServer(tmp_path).start()
