"""A steady encode loop to run under callgrind: instruction counts per span do not drift like timings.

    valgrind --tool=callgrind --collect-atstart=no '--toggle-collect=*TraceEncoder_*extend*' \\
        python benchmarks/profile_encode.py --format protobuf --workload full --loops 3
    callgrind_annotate callgrind.out.<pid> | head -40

Collected instructions / (loops x batch) is the cost of one span.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.workloads import make_records  # noqa: E402
from spancast.codec import implementation  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--format", default="protobuf", choices=("protobuf", "json"))
    p.add_argument("--workload", default="full", choices=("full", "small"))
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--loops", type=int, default=3)
    p.add_argument("--impl", default="native", choices=("native", "python"))
    args = p.parse_args()
    records = make_records(args.workload, args.batch)
    encoder = implementation(args.impl).TraceEncoder(format=args.format)
    for _ in range(args.loops):
        encoder.extend(records)
        encoder.finish()
    print(f"{args.loops * args.batch} spans encoded ({args.impl}, {args.format}, {args.workload})")


if __name__ == "__main__":
    main()
