"""Best-of timing of one checkout's native encoder against the SDK, for before/after pairs across commits.

Usage: python benchmarks/encode_pair.py CHECKOUT [full|small]. CHECKOUT is a clone with its extension
built in place (``python setup.py build_ext --inplace``), or the venv's own; its benchmarks/ and src/ are
imported, so each commit is measured on its own records and baselines. Run two checkouts alternately, several times, in one sitting.
"""

from __future__ import annotations

import glob
import sys
import time


def best_us_per_record(call, calls: int, n: int) -> float:
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main() -> None:
    root = sys.argv[1]
    workload = sys.argv[2] if len(sys.argv) > 2 else "full"
    # an in-place build of CHECKOUT's extension, else the installed spancast (the venv's own checkout)
    built = glob.glob(root + "/src/spancast/_native*.so")
    sys.path[:0] = [root + "/src", root] if built else [root]
    from benchmarks import baselines
    from benchmarks.workloads import make_records
    from spancast import _native

    records = make_records(workload, 512)
    spans = baselines.sdk_spans(records)
    native = best_us_per_record(lambda: _native.encode_traces(records), 60, len(records))
    sdk = best_us_per_record(lambda: baselines.sdk_encode(spans), 8, len(records))
    size = len(_native.encode_traces(records)) / len(records)
    print(f"{root}  {workload}  native {native:.2f} us  sdk {sdk:.1f} us  ratio {sdk / native:.1f}x  bytes/record {size:.0f}")


if __name__ == "__main__":
    main()
