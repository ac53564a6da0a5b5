"""What a benchmark ran on: machine, CPU, load, Python, package versions and the exact native build."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from google.protobuf.internal import api_implementation

import spancast

__all__ = ["environment", "print_environment", "loadavg", "native_build"]

DISTS = (
    "spancast", "msgspec", "orjson", "protobuf", "opentelemetry-proto", "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-common", "Cython",
)
ROOT = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def loadavg() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _git() -> str:
    """HEAD, and whether the encoder sources differ from it (figures belong to a build, not a commit)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "native", "src", "setup.py"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" + uncommitted changes in native/, src/ or setup.py" if dirty else "")


def live_native() -> Any:
    """The native encoder module, or None on a pure-Python install (SPANCAST_NO_EXTENSIONS=1): the suites
    then measure the Python twin and say so."""
    from spancast.codec import IMPL, implementation

    return implementation("native") if IMPL == "native" else None


def native_build(module: Any) -> str:
    if module is None:
        return "not built (a pure-Python install: the Python twin is measured)"
    try:
        path = Path(module.__file__)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        built = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
    except (AttributeError, OSError, TypeError):
        return "unknown"
    return f"{path.name} sha256 {digest}, built {built}"


def environment(native: Any) -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "loadavg": loadavg(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "spancast_impl": spancast.__impl__,
        "native_build": native_build(native),
        "git": _git(),
        "protobuf_backend": api_implementation.Type(),
        "versions": {d: _version(d) for d in DISTS},
    }


def print_environment(env: dict[str, Any], title: str) -> None:
    print(title)
    print(f"  machine   {env['platform']}")
    print(f"  cpu       {env['cpu']}, {env['cores']} cores ({env['usable_cores']} usable), loadavg {env['loadavg']}")
    print(f"  python    {env['python']}; spancast.__impl__ = {env['spancast_impl']}")
    print(f"  native    {env['native_build']}; git {env['git']}")
    print(f"  protobuf  backend {env['protobuf_backend']}")
    print("  versions  " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
