"""python -m benchmarks SUITE [--quick] [--out DIR] [suite options]: one entry point for every throughput suite."""

from __future__ import annotations

import importlib
import sys

SUITES = {
    "encode": "OTLP encoding throughput: spancast native/python vs opentelemetry-proto, the SDK path, orjson",
    "pipeline": "end-to-end delivery of a burst: spancast vs the SDK (BatchSpanProcessor + OTLP/HTTP), compressions",
    "fanout": "1, 5 and 19 destinations at once: delivered rec/s, CPU per record, emit cost; the SDK alike",
    "sweep": "batch size x flush interval x offered load: throughput, emit-to-ack p50/p99, CPU; heatmaps, advice",
    "compare": "spancast vs the OpenTelemetry SDK + OTLP exporter on the same records: paced loads and a burst",
    "serve": "spancast serve: accepted/delivered rec/s, CPU per record, ingest latency; /v1/generations, /v1/traces, workers",
    "soak": "spancast serve with a spool for 10 min, the destination flapping, kill -9 half-way: RSS, loss, duplicates",
    "routing": "what privacy mode, media stripping and redaction cost per record, beside encoding it",
    "compress": "compression alone, compressor x level: us per record and ratio on an OTLP body; the off-loop hop",
}
USAGE = "usage: python -m benchmarks SUITE [--quick] [--out DIR] [suite options]   (SUITE --help for its options)"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUITES:
        if argv and argv[0] not in ("-h", "--help"):
            print(f"unknown suite {argv[0]!r}\n", file=sys.stderr)
        print(USAGE + "\n\nsuites:")
        for name, what in SUITES.items():
            print(f"  {name:9} {what}")
        print("\nresults: a CSV and a JSON file per run under --out (default benchmarks/results/), named"
              " SUITE-<machine>-py<version>-<commit>[+dirty]; figures and how to read them: benchmarks/README.md")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    try:
        suite = importlib.import_module(f"benchmarks.{argv[0]}")
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] in ("benchmarks", "spancast"):
            raise
        # The suites compare against the OpenTelemetry SDK and draw with matplotlib: the bench extra.
        print(f"the {argv[0]} suite needs {exc.name}, which is not installed: install the bench extra from this"
              " clone, pip install '.[bench]' (or run tests/run, whose environment has it)", file=sys.stderr)
        return 2
    return suite.bench(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
