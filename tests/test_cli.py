"""The spancast command: check, test, preview, send, demo, their --json output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from spancast.cli import main
from spancast.testing.sink import OtlpSink, Reply

from conftest import full_record
from sinkthread import SinkThread

LF_SECRET = "sk-lf-cli-secret"


def config_file(tmp_path: Path, endpoint: str, extra: str = "") -> Path:
    path = tmp_path / "spancast.toml"
    path.write_text(f"""
[pipeline]
flush_interval_s = 0.05
[[destinations]]
type = "otel-collector"
name = "sink"
endpoint = "{endpoint}"
{extra}
""")
    return path


def run_json(capsys, *argv: str) -> tuple[int, object]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_check_lists_every_problem_and_exits_1(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[pipeline]\nmax_batch_records = 0\n[[destinations]]\ntype = "posthog"\n[[destinations]]\ntype = "x"\n')
    code, shown = run_json(capsys, "check", str(bad))
    assert code == 1 and shown["ok"] is False
    assert [p["path"] for p in shown["problems"]] == ["pipeline.max_batch_records", "destinations[0].apiKey",
                                                      "destinations[1].type"]
    assert main(["check", str(bad)]) == 1
    assert "3 problems" in capsys.readouterr().err


def test_check_a_good_file_and_the_embedded_default(tmp_path, capsys, monkeypatch):
    path = config_file(tmp_path, "http://127.0.0.1:9/v1/traces", 'sampling_rate = 0.5\nprivacy_mode = true')
    code, shown = run_json(capsys, "check", str(path))
    assert code == 0 and shown["destinations"] == [
        {"name": "sink", "type": "otel-collector", "enabled": True, "routing": "sampling 0.5, privacy mode"}]
    monkeypatch.chdir(tmp_path / "..")
    monkeypatch.delenv("SPANCAST_CONFIG", raising=False)
    code, shown = run_json(capsys, "check")
    assert code == 0 and shown["source"] == "<embedded default>"


def test_a_command_with_a_bad_configuration_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[destinations]]\ntype = "nope"\n')
    assert main(["test", "--config", str(bad)]) == 2
    assert "destinations[0].type" in capsys.readouterr().err


def test_test_reports_each_destination_and_exits_1_when_one_fails(tmp_path, capsys):
    with SinkThread(OtlpSink()) as sink:
        path = config_file(tmp_path, sink.url, """
[[destinations]]
type = "otel-collector"
name = "nowhere"
endpoint = "http://127.0.0.1:9/v1/traces"
""")
        code, rows = run_json(capsys, "test", "--config", str(path))
        assert code == 1
        assert [(r["destination"], r["ok"], r["status"]) for r in rows] == [("sink", True, 200), ("nowhere", False, None)]
        assert "connection refused" in rows[1]["error"]
        code, rows = run_json(capsys, "test", "sink", "--config", str(path))
        assert code == 0 and [r["destination"] for r in rows] == ["sink"]
        assert main(["test", "absent", "--config", str(path)]) == 2


def test_preview_masks_secrets(tmp_path, capsys):
    path = tmp_path / "lf.toml"
    path.write_text(f'[[destinations]]\ntype = "langfuse"\nname = "lf"\npublic_key = "pk-lf-1"\n'
                    f'secret_key = "{LF_SECRET}"\n')
    record = tmp_path / "record.json"
    record.write_bytes(msgspec.json.encode(full_record()))
    code, shown = run_json(capsys, "preview", str(record), "--dest", "lf", "--config", str(path))
    assert code == 0 and shown["sent"] is True and shown["headers"]["Authorization"] == "Basic ***"
    assert shown["body"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"]
    assert LF_SECRET not in json.dumps(shown)
    assert main(["preview", str(record), "--dest", "other", "--config", str(path)]) == 2


def test_send_delivers_a_file_and_names_bad_lines(tmp_path, capsys):
    records = [full_record(i) for i in range(30)]
    lines = [msgspec.json.encode(r) for r in records]
    lines.insert(10, b'{"id": "broken"}')
    lines.insert(20, b"")  # blank lines are skipped, but still counted as lines
    data = tmp_path / "records.ndjson"
    data.write_bytes(b"\n".join(lines) + b"\n")
    with SinkThread(OtlpSink()) as sink:
        code, report = run_json(capsys, "send", str(data), "--config", str(config_file(tmp_path, sink.url)))
        assert sorted(sink.generation_ids()) == sorted(r.id for r in records)
    assert code == 1  # one line was invalid
    assert report["records"] == 30 and [(e["index"], e["field"]) for e in report["invalid"]] == [(10, "start_time_ns")]
    (row,) = report["destinations"]
    assert (row["destination"], row["delivered"], row["dropped"], row["undelivered"]) == ("sink", 30, {}, 0)


def test_send_reads_stdin_and_counts_what_a_failing_destination_dropped(tmp_path):
    payload = b"\n".join(msgspec.json.encode(full_record(i)) for i in range(5))
    with SinkThread(OtlpSink(default=Reply.error(400, body=b"bad"))) as sink:
        done = subprocess.run([sys.executable, "-m", "spancast.cli", "send", "-", "--json",
                               "--config", str(config_file(tmp_path, sink.url))],
                              input=payload, capture_output=True, timeout=120)
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report["destinations"][0]["dropped"] == {"permanent_http_error": 5}


def test_demo_on_the_embedded_default_writes_otlp_json_lines(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPANCAST_CONFIG", raising=False)
    code, report = run_json(capsys, "demo", "--records", "120")
    assert code == 0 and report["ok"] and report["destinations"][0]["delivered"] == 120
    lines = (tmp_path / "spancast-out" / "traces.jsonl").read_text().splitlines()
    spans = [s for line in lines for rs in json.loads(line)["resourceSpans"] for ss in rs["scopeSpans"]
             for s in ss["spans"]]
    ids = [a["value"]["stringValue"] for s in spans for a in s["attributes"] if a["key"] == "gen_ai.response.id"]
    assert sorted(ids) == [f"gen-demo-7-{n:06d}" for n in range(120)]  # one generation span each (failed
    # generations also carry a span per provider attempt)


def test_the_console_script_and_version():
    done = subprocess.run([sys.executable, "-m", "spancast.cli", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("spancast ")


@pytest.mark.parametrize("argv", [["send"], ["preview", "x.json"], ["bogus"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2


def test_test_checks_that_a_file_destination_can_append(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPANCAST_CONFIG", raising=False)
    code, rows = run_json(capsys, "test")  # the embedded default
    assert code == 0 and rows[0]["ok"] and (tmp_path / "spancast-out" / "traces.jsonl").exists()
    (tmp_path / "a-file").write_text("")
    path = tmp_path / "f.toml"
    path.write_text('[[destinations]]\ntype = "file"\ndirectory = "a-file/sub"\n')
    code, rows = run_json(capsys, "test", "--config", str(path))
    assert code == 1 and not rows[0]["ok"] and "cannot append to a-file/sub/traces.jsonl" in rows[0]["error"]
