"""What every suite shares: result file names (machine, Python, commit), CSV/JSON writing, spreads, ratios, progress."""

from __future__ import annotations

import csv
import json
import platform
import re
import socket
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from benchmarks.environment import environment, live_native, print_environment

__all__ = [
    "DEFAULT_OUT", "commit_tag", "fmt_ratio", "fmt_spread", "machine_tag", "print_rows", "progress_bar", "ratio_spread",
    "result_stem", "spread", "suite_environment", "write_results",
]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = HERE / "results"


def machine_tag() -> str:
    """The hostname, plus a short machine id when the hostname alone says little (containers, VMs named 'vm')."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname().split(".")[0]) or "host"
    try:
        machine_id = Path("/etc/machine-id").read_text().strip()[:8]
    except OSError:
        machine_id = ""
    return f"{host}-{machine_id}" if machine_id else host


@cache
def commit_tag() -> str:
    """Short HEAD, with '+dirty' when anything tracked differs from it (results belong to a tree, not a commit);
    taken once, when the suite starts, so that every file of one run has the same name."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "nogit"
    return head + ("+dirty" if dirty else "")


def result_stem(suite: str) -> str:
    return f"{suite}-{machine_tag()}-py{platform.python_version()}-{commit_tag()}"


def suite_environment(suite: str, title: str, native: Any = None, extra_dists: Sequence[str] = ()) -> dict[str, Any]:
    """The machine and versions, printed under the suite's title and returned for the JSON file."""
    from importlib import metadata

    if native is None:
        native = live_native()
    env = environment(native)
    for dist in extra_dists:
        try:
            env["versions"][dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env["versions"][dist] = "not installed"
    env["machine"], env["commit"] = machine_tag(), commit_tag()
    print_environment(env, title)
    print(f"  results   named {result_stem(suite)}.csv/.json (machine, Python, commit)")
    return env


def write_results(suite: str, out_dir: Path | str, rows: list[dict], columns: Sequence[str], doc: dict) -> tuple[Path, Path]:
    """rows as CSV (the given columns, in order) and the whole doc (rows included) as JSON, under out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = result_stem(suite)
    csv_path, json_path = out / f"{stem}.csv", out / f"{stem}.json"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in columns})
    full = {"suite": suite, "machine": machine_tag(), "python": platform.python_version(), "commit": commit_tag(),
            "argv": sys.argv, **doc, "rows": rows}
    json_path.write_text(json.dumps(full, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\nresults written to {csv_path} and {json_path.name}")
    return csv_path, json_path


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return "" if value is None else value


# ---------------------------------------------------------------- spreads and ratios


def spread(values: Sequence[float | None]) -> tuple[float, float, float] | None:
    """(median, min, max) of the values that are there; None when none are."""
    xs = [x for x in values if x is not None]
    return (statistics.median(xs), min(xs), max(xs)) if xs else None


def ratio_spread(ours: Sequence[float | None], theirs: Sequence[float | None]) -> tuple[float, float, float] | None:
    """Per repeat theirs/ours, paired by position (the same repeat, so a machine's drift cancels): median, min, max."""
    return spread([t / o for o, t in zip(ours, theirs) if o and t is not None])


def fmt_spread(s: tuple[float, float, float] | None, digits: int = 0, unit: str = "") -> str:
    if s is None:
        return "-"
    med, lo, hi = s
    return f"{med:,.{digits}f}{unit} ({lo:,.{digits}f}..{hi:,.{digits}f})"


def fmt_ratio(s: tuple[float, float, float] | None) -> str:
    if s is None:
        return "-"

    def x(v: float) -> str:
        return f"{v:,.1f}" if v >= 1 else f"{v:.2f}"

    return f"{x(s[0])}x ({x(s[1])}..{x(s[2])})"


def print_rows(head: Sequence[str], lines: Sequence[Sequence[str]], left: Sequence[int] = (0,)) -> None:
    """A plain aligned table: text columns in `left` are left-aligned, numbers right-aligned."""
    table = [list(head)] + [list(line) for line in lines]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print("  " + "  ".join(c.ljust(w) if j in left else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


# ---------------------------------------------------------------- progress


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[str], None]]:
    """A rich progress bar on stderr (only on a terminal: logs and tests get the suite's own lines);
    yields advance(description)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("eta"), TimeRemainingColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task(label, total=total)

        def advance(description: str = "") -> None:
            progress.update(task, advance=1, description=f"{label} {description}".strip())

        yield advance
