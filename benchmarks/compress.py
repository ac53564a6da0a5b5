"""Compression alone, compressor x level side by side: us per record and ratio on a realistic OTLP body.

The body is what a destination sends by default: 512 "full" records (a batch) encoded as OTLP protobuf by the
native encoder (the OTLP JSON body is measured too). Each contender compresses it in one shot; the rounds
interleave the contenders so that the machine's drift hits them alike, and each round takes the best of a few
calls (the least noise); the ratio to the stdlib's gzip level 1 (spancast's gzip before ISA-L) is per round.

"other thread" is the pace of a pure-Python thread counting while this one compresses back to back, over its
pace alone: near 0 when the library holds the GIL while it works (nothing else in the process runs), near 1
when it releases it (less when this shared VM's other core is busy). "off the loop" times what moving a body to a worker thread costs the event loop (uvloop's
run_in_executor of a no-op, the loop thread's CPU per round trip) beside compressing bodies of a few sizes:
the threshold above which spancast compresses off the loop (OFF_LOOP_MIN_BYTES) should be well above the
size whose compression costs what the hop does.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):  # run as `python benchmarks/compress.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report
from benchmarks.workloads import make_records
from spancast.codec import TraceEncoder
from spancast.pipeline.compress import OFF_LOOP_MIN_BYTES, Compressor

COLUMNS = ("format", "contender", "level", "rounds", "batch", "body_bytes", "us_per_record", "us_per_record_min",
           "us_per_record_max", "mb_per_s", "ratio", "vs_zlib_1", "other_thread", "what")
EXTRA_DISTS = ("isal", "zstandard", "zlib-ng")


def contenders() -> dict[str, tuple[str, int, Callable[[bytes], bytes], str]]:
    """name -> (library, level, compress(body), what); zlib-ng only when it is installed (it is not a dependency)."""
    import zstandard
    from isal import isal_zlib

    out: dict[str, tuple[str, int, Callable[[bytes], bytes], str]] = {}
    for level in (1, 2, 3, 6):
        out[f"zlib-{level}"] = ("zlib", level, lambda b, lv=level: zlib.compress(b, lv, 31),
                                "the stdlib's gzip (zlib.compress, gzip wrapper)")
    for level in (0, 1, 2, 3):
        out[f"isal-{level}"] = ("isal", level, lambda b, lv=level: isal_zlib.compress(b, lv, 31),
                                "ISA-L igzip (python-isal isal_zlib.compress, gzip wrapper)")
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        pass
    else:
        for level in (1, 2):
            out[f"zlib-ng-{level}"] = ("zlib-ng", level, lambda b, lv=level: zlib_ng.compress(b, lv, 31),
                                       "zlib-ng (python-zlib-ng, gzip wrapper)")
    local = threading.local()  # a zstd context is not safe to share between threads: one each, reused

    def zstd(body: bytes, level: int) -> bytes:
        contexts = local.__dict__.setdefault("contexts", {})
        if level not in contexts:
            contexts[level] = zstandard.ZstdCompressor(level=level)
        return contexts[level].compress(body)

    for level in (1, 2, 3, 4):
        out[f"zstd-{level}"] = ("zstd", level, lambda b, lv=level: zstd(b, lv), "zstandard, a context per thread")
    for kind in ("gzip", "zstd"):
        c = Compressor(kind)
        out[f"spancast {kind}"] = (c.backend or "", c.level, c.compress,
                                   f"spancast's Compressor({kind!r}) at its default level, as the pipeline calls it")
    return out


def best_us(fn: Callable[[bytes], bytes], body: bytes, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(body)
        best = min(best, time.perf_counter() - t0)
    return best * 1e6


def other_thread_pace(fn: Callable[[bytes], bytes], body: bytes, seconds: float) -> float:
    """A pure-Python counting thread's pace while this thread compresses back to back, over its pace alone:
    near 0 when the compressor holds the GIL, near 1 when it releases it (less when the VM's other core is busy)."""
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # a thread that holds the GIL lets go within 0.5 ms of being asked

    def pace(work: Callable[[], object] | None) -> float:
        stop, counted = threading.Event(), [0]

        def spin() -> None:
            n = 0
            while not stop.is_set():
                n += 1
            counted[0] = n

        spinner = threading.Thread(target=spin)
        t0 = time.perf_counter()
        spinner.start()
        while time.perf_counter() - t0 < seconds:
            if work is None:
                time.sleep(0.005)
            else:
                work()
        stop.set()
        spinner.join()
        return counted[0] / (time.perf_counter() - t0)

    try:
        return pace(lambda: fn(body)) / pace(None)
    finally:
        sys.setswitchinterval(old_interval)


def hop_us(hops: int) -> float:
    """The loop thread's CPU per run_in_executor round trip of a no-op (uvloop, as the pipeline runs)."""
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency where it has a build
        loop = asyncio.new_event_loop()
    pool = ThreadPoolExecutor(1)

    async def main() -> float:
        for _ in range(100):  # the worker thread started, the loop's self-pipe warm
            await loop.run_in_executor(pool, bytes)
        t0 = time.thread_time()
        for _ in range(hops):
            await loop.run_in_executor(pool, bytes)
        return (time.thread_time() - t0) / hops * 1e6

    try:
        return loop.run_until_complete(main())
    finally:
        pool.shutdown()
        loop.close()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks compress", description=__doc__)
    p.add_argument("--quick", action="store_true", help="3 rounds (seconds)")
    p.add_argument("--smoke", action="store_true", help="1 round of a small batch: checks the suite runs")
    p.add_argument("--out", default=str(report.DEFAULT_OUT), help="directory for the CSV/JSON result files")
    p.add_argument("--batch", type=int, help="records per body (default 512, a batch)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 9; --quick 3)")
    return p


def run(args: argparse.Namespace) -> dict:
    env = report.suite_environment("compress", "spancast compression alone: compressor x level on an OTLP body",
                                   extra_dists=EXTRA_DISTS)
    batch = args.batch or (16 if args.smoke else 512)
    rounds = args.rounds or (1 if args.smoke else 3 if args.quick else 9)
    repeat = 2 if args.smoke else 5
    records = make_records("full", batch)
    bodies = {}
    for fmt in ("protobuf", "json"):
        enc = TraceEncoder(format=fmt)
        enc.extend(records)
        bodies[fmt] = enc.finish()
    chosen = contenders()
    for name, (_, _, fn, _) in chosen.items():  # every output is a stream its reader takes back whole
        import gzip

        import zstandard

        out = fn(bodies["protobuf"])
        back = zstandard.ZstdDecompressor().decompress(out) if name.startswith(("zstd", "spancast zstd")) \
            else gzip.decompress(out)
        assert back == bodies["protobuf"], name
    ratio = {(fmt, name): len(body) / len(c[2](body)) for fmt, body in bodies.items() for name, c in chosen.items()}
    runs: dict[tuple[str, str], list[float]] = {(fmt, name): [] for fmt in bodies for name in chosen}
    with report.progress_bar(rounds * len(bodies), "compress") as advance:
        for _ in range(rounds):
            for fmt, body in bodies.items():
                for name, (_, _, fn, _) in chosen.items():
                    runs[(fmt, name)].append(best_us(fn, body, repeat) / batch)
                advance(fmt)
    others = {name: statistics.median(other_thread_pace(c[2], bodies["protobuf"], 0.05 if args.smoke else 0.5)
                                      for _ in range(1 if args.smoke else 3))
              for name, c in chosen.items()}
    rows, lines = [], []
    for (fmt, name), values in runs.items():
        library, level, _, what = chosen[name]
        med, lo, hi = report.spread(values)
        vs = statistics.median(z / v for z, v in zip(runs[(fmt, "zlib-1")], values))
        size = len(bodies[fmt])
        other = others[name] if fmt == "protobuf" else None
        rows.append({"format": fmt, "contender": name, "level": level, "rounds": rounds, "batch": batch,
                     "body_bytes": size, "us_per_record": med, "us_per_record_min": lo, "us_per_record_max": hi,
                     "mb_per_s": size / (med * batch), "ratio": ratio[(fmt, name)], "vs_zlib_1": vs,
                     "other_thread": other, "what": what})
        lines.append([fmt, name, library, f"{med:.2f} ({lo:.2f}..{hi:.2f})", f"{size / (med * batch):.0f}",
                      f"{ratio[(fmt, name)]:.2f}", f"{vs:.2f}x", "-" if other is None else f"{other:.0%}"])
    print(f"\none-shot compression of a {batch}-record body of 'full' records (protobuf {len(bodies['protobuf']):,}"
          f" bytes, OTLP JSON {len(bodies['json']):,} bytes); us per record: best of {repeat} calls per round, median"
          f" (min..max) of {rounds} interleaved rounds; speed vs zlib-1: per round; other thread: a counting"
          " thread's pace while compressing, over its pace alone, median of 3 (protobuf; near 0: the GIL is held)")
    report.print_rows(["body", "contender", "library", "us per record", "MB/s", "ratio", "vs zlib-1", "other thread"],
                      lines, left=(0, 1, 2))
    # What a hop to a worker costs the loop, beside compressing a body of each size on it
    hop = report.spread([hop_us(200 if args.smoke else 2000) for _ in range(3)])
    sizes = (8 * 1024, 16 * 1024, 32 * 1024, 64 * 1024, 256 * 1024)
    off_loop = []
    for size in sizes:
        part = bodies["protobuf"][:size]
        off_loop.append({"body_bytes": len(part), **{kind: best_us(Compressor(kind).compress, part, repeat * 4)
                                                     for kind in ("gzip", "zstd")}})
    print(f"\noff the loop: a run_in_executor round trip costs the loop thread {report.fmt_spread(hop, 1)} us of CPU"
          f" (median (min..max) of 3 x {200 if args.smoke else 2000} hops); compressing on the loop instead costs"
          f" (OFF_LOOP_MIN_BYTES is {OFF_LOOP_MIN_BYTES // 1024} KiB):")
    report.print_rows(["body", "gzip (default) us", "zstd (default) us"],
                      [[f"{r['body_bytes'] // 1024} KiB", f"{r['gzip']:.1f}", f"{r['zstd']:.1f}"] for r in off_loop])
    return {"rows": rows, "columns": COLUMNS,
            "doc": {"environment": env, "settings": {"batch": batch, "rounds": rounds, "repeat": repeat},
                    "body_bytes": {fmt: len(b) for fmt, b in bodies.items()},
                    "off_loop": {"hop_loop_cpu_us": hop, "compress_us": off_loop,
                                 "off_loop_min_bytes": OFF_LOOP_MIN_BYTES},
                    "runs": {f"{f}/{n}": v for (f, n), v in runs.items()}}}


def bench(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = run(args)
    report.write_results("compress", args.out, result["rows"], result["columns"], result["doc"])
    return 0


if __name__ == "__main__":
    sys.exit(bench())
