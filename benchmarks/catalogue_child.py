"""One timed catalogue run in a fresh process: a Broadcaster to the given destinations, warm up, burst, flush, report JSON."""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/catalogue_child.py SPEC`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.pipeline_child import (FLUSH_TIMEOUT_S, _burst, _get, _loop_cpu, _minus, _percentiles, child_main,
                                       read_records)


def destination_stats(b, names: list[str]) -> dict:
    st = b.stats()["destinations"]
    return {name: {"delivered": st[name]["delivered"], "delivered_bytes": st[name]["delivered_bytes"],
                   "dropped": sum(st[name]["dropped"].values()), "retried": st[name]["retried"],
                   "batches": sum(st[name]["batches"].values())} for name in names}


def outside_counts(spec: dict) -> dict:
    """Records the destinations that are not HTTP hold: the Redis stream's length, the file's generation spans."""
    out = {}
    if spec.get("redis"):
        import redis

        out["redis"] = redis.Redis.from_url(spec["redis"]["url"]).xlen(spec["redis"]["stream"])
    if spec.get("file"):
        from benchmarks.catalogue_sink import records_in
        from spancast.testing.sink import JSON, Received, decode_otlp

        count = 0
        for path in Path(spec["file"]).glob("*"):
            for line in path.read_bytes().splitlines():
                count += records_in(Received({}, JSON, None, 0, b"", decode_otlp(line, JSON)))
        out["file"] = count
    return out


def run(spec: dict) -> dict:
    from spancast import Broadcaster

    pool = read_records(spec["records"])
    records, warm = pool[: spec["n"]], pool[spec["n"] : spec["n"] + spec["warmup"]]  # warm-up: other records
    del pool
    gc.collect()
    gc.freeze()  # the record pool is not garbage: keep the collector from walking it on every pass
    names = [c["name"] for c in spec["configs"]]
    b = Broadcaster(spec["configs"]).start()  # default pipeline settings, as the fanout suite's
    _burst(warm, b.emit)
    warm_flushed = b.flush(FLUSH_TIMEOUT_S)
    before, outside0 = destination_stats(b, names), outside_counts(spec)
    _get(spec["control"] + "/_reset")
    loop0 = _loop_cpu(b)
    cpu0, caller0, t0 = time.process_time(), time.thread_time(), time.perf_counter_ns()
    costs, refused = _burst(records, b.emit)
    flushed = b.flush(FLUSH_TIMEOUT_S)
    t1 = time.perf_counter_ns()
    cpu1, caller, loop = time.process_time(), time.thread_time() - caller0, _loop_cpu(b) - loop0
    sink_cpu = _get(spec["control"] + "/_cpu")
    sink = _get(spec["control"] + "/_stats")
    claimed = _minus(destination_stats(b, names), before)
    outside = _minus(outside_counts(spec), outside0)
    b.close(10)
    received = {name: (outside[name] if name in outside else sink[name]["records"]) for name in names}
    return {"spec": {k: v for k, v in spec.items() if k not in ("records", "configs")}, "names": names,
            "elapsed_s": (t1 - t0) / 1e9, "cpu_s": cpu1 - cpu0, "flushed": flushed and warm_flushed,
            "threads_cpu_s": {"caller": caller, "loop": loop, "other": cpu1 - cpu0 - caller - loop},
            "sink_cpu_s": sink_cpu["cpu_s"], "emit_ns": _percentiles(costs), "refused": refused,
            "claimed": claimed, "received": received,
            "sink": {name: sink[name] for name in names if name in sink}}


if __name__ == "__main__":
    child_main(run)
