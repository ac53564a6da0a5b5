"""The soak's short version: spancast serve at a steady rate, its destination flapping, kill -9 half-way (benchmarks/soak.py)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_the_short_soak_loses_nothing_acknowledged_and_rss_stays_flat(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks", "soak", "--quick", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    (result,) = tmp_path.glob("soak-*.json")
    summary = json.loads(result.read_text())["summary"]
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert summary["acked"] > 5000 and summary["missing"] == 0 and summary["unknown_delivered"] == 0
    assert summary["killed_at_s"] is not None and summary["exit_status"] == 0
    assert summary["duplicates"] <= summary["duplicate_bound"]
    assert summary["rss_flat"], summary
    assert summary["ok"]
