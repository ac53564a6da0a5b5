"""Smoke tests of the benchmark suites: each runs at a tiny size and writes its CSV/JSON (no timed assertions)."""

from __future__ import annotations

import csv
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The suites compare against the SDK and its OTLP/HTTP exporter (the bench extra, in the test extra too):
# missing, these tests fail here, never skip.
import opentelemetry.exporter.otlp.proto.http  # noqa: E402,F401
import opentelemetry.sdk  # noqa: E402,F401

EXPECTED = {
    "encode": {"workload", "format", "batch", "contender", "median_spans_per_s", "min_spans_per_s", "max_spans_per_s",
               "vs_sdk", "vs_sdk_min", "vs_sdk_max", "vs_orjson"},
    "pipeline": {"compression", "destinations", "contender", "rate", "rate_min", "rate_max", "cpu_us",
                 "emit_median_ns", "drops_max", "vs_sdk", "vs_sdk_min", "vs_sdk_max"},
    "fanout": {"destinations", "contender", "delivered_per_s", "delivered_per_s_min", "delivered_per_s_max",
               "cpu_us_per_record", "cpu_us_per_delivery", "emit_median_ns", "vs_one", "vs_sdk", "cpu_vs_sdk",
               "cpu_vs_one", "spans_copied"},
    "sweep": {"rate_per_s", "max_batch_records", "flush_interval_s", "keeps_up_all", "delivered_per_s",
              "latency_p50_ms", "latency_p99_ms", "latency_p99_ms_min", "latency_p99_ms_max", "requests_per_s",
              "cpu_us_per_record", "cpu_vs_defaults"},
    "compare": {"scenario", "contender", "delivered_per_s", "delivered_per_s_min", "delivered_per_s_max",
                "cpu_us_per_record", "emit_median_ns", "latency_p99_ms", "rate_vs_sdk", "cpu_vs_sdk"},
    "routing": {"workload", "scenario", "us_per_record", "us_per_record_min", "us_per_record_max", "vs_encode"},
    "serve": {"route", "workers", "offered", "repeat", "sent", "accepted_per_s", "delivered_per_s", "cpu_us_per_record",
              "latency_ms_p50", "latency_ms_p99", "statuses", "embedded_cpu_us_per_record", "ratio_to_embedded",
              "embedded_held_cpu_us_per_record", "ratio_to_embedded_held"},
    "compress": {"format", "contender", "level", "us_per_record", "us_per_record_min", "us_per_record_max", "ratio",
                 "vs_zlib_1", "other_thread"},
}
# Results of a suite's other mode, under a name of their own (not suites: `python -m benchmarks` does not list them)
EXPECTED_MODES = {
    "fanout-encode": {"destinations", "mode", "first_us", "others_us", "total_us", "total_vs_render"},
    "fanout-catalogue": {"destination", "alone_per_s", "alone_cpu_us", "together_received", "together_claimed",
                         "together_batches", "wire_bytes_per_record", "together_drops", "problems", "together_cpu_us",
                         "sum_alone_cpu_us", "together_vs_sum", "together_vs_otlp"},
}


def run_suite(suite: str, out: pathlib.Path, *extra: str, via_cli: bool = False) -> subprocess.CompletedProcess:
    if via_cli:  # spancast bench finds benchmarks/ from a directory inside the clone
        command = [sys.executable, "-m", "spancast.cli", "bench", suite, "--smoke", "--out", str(out), *extra]
        cwd = ROOT / "benchmarks"
    else:
        command = [sys.executable, "-m", "benchmarks", suite, "--smoke", "--out", str(out), *extra]
        cwd = ROOT
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{suite} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def results(suite: str, out: pathlib.Path) -> tuple[list[dict], dict]:
    csvs, jsons = sorted(out.glob(f"{suite}-*.csv")), sorted(out.glob(f"{suite}-*.json"))
    assert len(csvs) == 1 and len(jsons) == 1, sorted(p.name for p in out.iterdir())
    # named with the machine, the Python version and the commit
    assert f"-py{sys.version_info.major}.{sys.version_info.minor}." in csvs[0].name
    with open(csvs[0], newline="") as f:
        rows = list(csv.DictReader(f))
    doc = json.loads(jsons[0].read_text())
    assert rows and len(doc["rows"]) == len(rows)
    expected = EXPECTED.get(suite) or EXPECTED_MODES[suite]
    assert expected <= set(rows[0]), expected - set(rows[0])
    env = doc["environment"]
    for key in ("cpu", "cores", "python", "spancast_impl", "versions", "machine", "commit"):
        assert env[key], key
    return rows, doc


@pytest.mark.parametrize("suite", ["encode", "pipeline", "fanout", "compare", "routing", "compress"])
def test_suite_smoke(suite, tmp_path):
    run_suite(suite, tmp_path, *(["--no-catalogue"] if suite == "fanout" else []))  # the catalogue: its own test
    rows, _ = results(suite, tmp_path)
    if suite == "compress":
        # stdlib gzip, ISA-L, zstd levels 1-3 and spancast's own defaults, each with a ratio above 1
        names = {r["contender"] for r in rows}
        assert {"zlib-1", "isal-1", "zstd-1", "zstd-2", "zstd-3", "spancast gzip", "spancast zstd"} <= names
        assert all(float(r["ratio"]) > 1 for r in rows)
    if suite in ("pipeline", "fanout", "compare"):
        # the SDK ran beside spancast, and spancast's rows carry the ratio measured in the same repeat
        assert {r["contender"] for r in rows} >= {"spancast"} and any(r["contender"].startswith("sdk") for r in rows)
        ratio = "vs_sdk" if suite != "compare" else "rate_vs_sdk"
        assert all(float(r[ratio]) > 0 for r in rows if r["contender"] == "spancast")
    if suite == "fanout":  # 19 alike destinations: 18 of every 19 lane appends copied another lane's spans
        (x19,) = [r for r in rows if r["contender"] == "spancast" and r["destinations"] == "19"]
        assert float(x19["spans_copied"]) == pytest.approx(18 / 19)


def test_fanout_encode_smoke(tmp_path):
    """The rendering alone: N encoders rendering every record, or sharing span bytes, side by side."""
    done = run_suite("fanout", tmp_path, "--encode")
    rows, _ = results("fanout-encode", tmp_path)
    assert {(int(r["destinations"]), r["mode"]) for r in rows} == {(1, "render"), (1, "share"), (19, "render"),
                                                                   (19, "share")}
    assert all(float(r["total_us"]) > 0 for r in rows) and "render / share" in done.stdout


def test_fanout_catalogue_smoke(tmp_path):
    """Every destination type at once, and each alone, against its contract's fake (the file, a real Redis):
    every record reached every destination, none was refused, and the CPU is reported per destination and in total."""
    from spancast.destinations import REGISTRY

    done = run_suite("fanout", tmp_path, "--catalogue")
    rows, _ = results("fanout-catalogue", tmp_path)
    *per, total = rows
    assert {r["destination"] for r in per} == set(REGISTRY) and total["destination"] == "all at once"
    for r in per:
        assert int(r["together_received"]) == int(r["together_claimed"]) == int(r["burst"]) == 200, r
        assert int(r["together_drops"]) == int(r["problems"]) == 0 and float(r["alone_cpu_us"]) > 0, r
        assert float(r["wire_bytes_per_record"]) > 0, r
    assert int(total["together_received"]) == 200 * len(REGISTRY) and int(total["problems"]) == 0
    assert float(total["together_cpu_us"]) > 0 and float(total["sum_alone_cpu_us"]) > 0
    assert f"all {len(REGISTRY)} at once" in done.stdout


def test_serve_smoke_both_routes_two_worker_counts(tmp_path):
    """spancast serve with 1 and 2 workers, /v1/generations and /v1/traces, beside the embedded path."""
    done = run_suite("serve", tmp_path, "--workers", "1,2")
    rows, doc = results("serve", tmp_path)
    assert {(r["route"], int(r["workers"])) for r in rows} == {
        ("generations", 1), ("generations", 2), ("traces", 1), ("traces", 2)}
    for r in rows:  # every record sent was taken and delivered; ratios to the same repeat's embedded run
        assert int(r["sent"]) == 2000 and json.loads(r["statuses"]) in ({"202": 4}, {"200": 4})
        assert float(r["cpu_us_per_record"]) > 0 and float(r["ratio_to_embedded"]) > 0
        assert float(r["ratio_to_embedded_held"]) > 0  # the embedded path run both ways, each record freed and not
    assert "OpenTelemetry Collector, published" in done.stdout and "vs 1 worker" in done.stdout
    assert "records held" in done.stdout and "vs held" in done.stdout


def test_sweep_smoke_via_spancast_bench(tmp_path):
    """Through `spancast bench` from inside the clone: a 2x2 grid, heatmaps and a recommendation."""
    figures = tmp_path / "figures"
    done = run_suite("sweep", tmp_path, "--figures", str(figures), "--latency-budget-ms", "5000", via_cli=True)
    rows, doc = results("sweep", tmp_path)
    assert {(int(r["max_batch_records"]), float(r["flush_interval_s"])) for r in rows} == {
        (64, 0.05), (64, 1.0), (512, 0.05), (512, 1.0)}
    assert all(float(r["latency_p99_ms"]) >= float(r["latency_p50_ms"]) > 0 for r in rows)
    pngs = sorted(tmp_path.glob("sweep-*.png")) + sorted(figures.glob("sweep-*.png"))
    assert len(pngs) == 2 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "recommendation for a p99 budget of 5000 ms" in done.stdout
    # with a 5 s budget every cell fits if it keeps up: the one with the least CPU is recommended
    assert doc["recommendation"][1].lstrip().startswith("1,000 rec/s:")


def test_spancast_bench_outside_a_clone(tmp_path):
    done = subprocess.run([sys.executable, "-m", "spancast.cli", "bench", "sweep", "--quick"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "run this from a clone" in done.stderr


def test_unknown_suite_lists_the_suites():
    done = subprocess.run([sys.executable, "-m", "benchmarks", "nope"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2
    for suite in EXPECTED:
        assert suite in done.stdout
