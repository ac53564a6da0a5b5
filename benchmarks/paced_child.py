"""Paced runs in one fresh process: records emitted at a fixed rate, emit-to-acknowledgement latency and CPU per record.

The parent (sweep.py, compare.py) passes a JSON spec: the sink, the records file and a list of cells
(contender, batch settings, rate, durations). Each cell gets a new Broadcaster (or SDK TracerProvider),
emits warm-up, window and tail records at the cell's rate, drains, and prints one JSON line. Record k
carries k+1 as its trace id (spancast: the record's trace.trace_id; the SDK: an id generator that counts),
the sink notes each request's answer time and the trace ids in it, so every record's latency is known.
"""

from __future__ import annotations

import gc
import json
import math
import statistics
import sys
import time
import urllib.request
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python benchmarks/paced_child.py SPEC`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec

from benchmarks.pipeline_child import _loop_cpu, _percentiles, read_records

MIN_SLEEP_S = 0.0005  # the emitter wakes at most every 0.5 ms and emits what is due: fewer wake-ups, same rate
KEEP_UP_SHARE = 0.95  # delivered at least this share of the offered rate over the window


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=600) as resp:
        return json.loads(resp.read())


# ---------------------------------------------------------------- contenders: (call, drain, drops, close, loop handle)


def spancast_contender(cell: dict, base: str) -> tuple[Callable, Callable, Callable, Callable, Any]:
    from spancast import Broadcaster

    dest = {"type": "otel-collector", "endpoint": f"{base}/d1/v1/traces", "compression": cell["compression"],
            "name": "d1"}
    settings = {k: cell[k] for k in ("max_batch_records", "flush_interval_s") if cell.get(k) is not None}
    b = Broadcaster([dest], **settings).start()

    def drops() -> int:
        st = b.stats()
        return sum(st["destinations"]["d1"]["dropped"].values()) + st["intake"]["dropped"]

    return b.emit, b.flush, drops, lambda: b.close(2), b


def _counting_ids() -> Any:
    """An SDK IdGenerator whose trace ids count 1, 2, 3... in span start order (the emit index + 1)."""
    import random

    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class CountingIds(IdGenerator):
        def __init__(self) -> None:
            self.next_trace_id = 1
            self._random = random.Random(7)

        def generate_trace_id(self) -> int:
            self.next_trace_id += 1
            return self.next_trace_id - 1

        def generate_span_id(self) -> int:
            return self._random.getrandbits(64) or 1

        def is_trace_id_random(self) -> bool:
            return False

    return CountingIds()


def sdk_contender(cell: dict, base: str) -> tuple[Callable, Callable, Callable, Callable, Any]:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from benchmarks.baselines import sdk_call
    from spancast import __version__

    compression = {"none": Compression.NoCompression, "gzip": Compression.Gzip}[cell["compression"]]
    provider = TracerProvider(resource=Resource.create({"service.name": "spancast"}), id_generator=_counting_ids())
    extra: dict[str, Any] = {}
    if cell.get("max_batch_records") is not None:
        extra["max_export_batch_size"] = cell["max_batch_records"]
        extra["max_queue_size"] = max(2048, 4 * cell["max_batch_records"])
    if cell.get("flush_interval_s") is not None:
        extra["schedule_delay_millis"] = cell["flush_interval_s"] * 1000
    exporter = OTLPSpanExporter(endpoint=f"{base}/d1/v1/traces", compression=compression)
    provider.add_span_processor(BatchSpanProcessor(exporter, **extra))
    tracer = provider.get_tracer("spancast", __version__)
    call = sdk_call(tracer)

    def drain(timeout_s: float) -> bool:
        return provider.force_flush(int(timeout_s * 1000))

    return call, drain, lambda: None, provider.shutdown, None


# ---------------------------------------------------------------- one cell


def _indexed(pool: list, n: int) -> list:
    """n records cycling through the pool, record k with trace id k+1 (32 hex); the content is shared."""
    out = []
    replace = msgspec.structs.replace
    for k in range(n):
        rec = pool[k % len(pool)]
        out.append(replace(rec, trace={**(rec.trace or {}), "trace_id": f"{k + 1:032x}"}))
    return out


def run_cell(cell: dict, spec: dict, pool: list) -> dict:
    rate = cell["rate_per_s"]
    k_ws = int(rate * cell["warmup_s"])
    k_we = k_ws + max(2, int(rate * cell["window_s"]))
    n = k_we + int(rate * cell["tail_s"])
    sdk = cell["contender"] == "sdk"
    records = pool if sdk else _indexed(pool, n)
    gc.collect()
    gc.freeze()  # the copies are not garbage: keep the collector from walking them on every pass
    call, drain, drops, close, handle = (sdk_contender if sdk else spancast_contender)(cell, spec["base"])
    _get(spec["base"] + "/_reset?track=1")
    emit_ns = array("q", bytes(8 * n))
    costs = array("q", bytes(8 * (k_we - k_ws)))
    clock, sleep = time.monotonic_ns, time.sleep
    interval_ns = 1e9 / rate
    snaps: list[tuple[float, float, float]] = []
    t0 = clock()
    i = 0
    while i < n:
        due = min(n, int((clock() - t0) / interval_ns) + 1)
        while i < due:
            if i == k_ws or i == k_we:  # window edges: process CPU, the emitting thread's, the loop thread's
                snaps.append((time.process_time(), time.thread_time(), _loop_cpu(handle)))
            rec = records[i % len(records)] if sdk else records[i]
            t = clock()
            emit_ns[i] = t
            call(rec)
            if k_ws <= i < k_we:
                costs[i - k_ws] = clock() - t
            i += 1
        if i < n:
            sleep(max(MIN_SLEEP_S, (t0 + i * interval_ns - clock()) / 1e9))
    emitted_end_ns = clock()
    if len(snaps) < 2:
        snaps.append((time.process_time(), time.thread_time(), _loop_cpu(handle)))
    drained = drain(cell["drain_timeout_s"])
    dropped = drops()
    info = _get(f"{spec['base']}/_acks?path={spec['ack_file']}")
    close()
    gc.unfreeze()
    acks = _read_acks(spec["ack_file"], info["requests"], info["spans"])
    return summarize(cell, emit_ns, costs, snaps, k_ws, k_we, n, acks, drained, dropped, emitted_end_ns - t0)


def _read_acks(path: str, requests: int, spans: int) -> tuple[array, array, array]:
    """The sink's three int64 arrays, back to back: requests' ack ns, spans' trace ids, spans' request index."""
    raw = array("q")
    with open(path, "rb") as f:
        raw.frombytes(f.read())
    return raw[:requests], raw[requests : requests + spans], raw[requests + spans :]


def summarize(cell: dict, emit_ns: array, costs: array, snaps: list, k_ws: int, k_we: int, n: int,
              acks: tuple[array, array, array], drained: bool, dropped: int, emit_phase_ns: int) -> dict:
    req_ack, span_ids, span_req = acks
    ack = array("q", [-1]) * n
    per_req = [0] * len(req_ack)
    for idx, r in zip(span_ids, span_req):
        per_req[r] += 1
        k = idx - 1
        if 0 <= k < n and ack[k] < 0:  # a record acknowledged twice (a retry) counts at its first answer
            ack[k] = req_ack[r]
    if dropped is None:  # the SDK does not count what it drops: whatever the sink never acknowledged
        dropped = sum(1 for k in range(n) if ack[k] < 0)
    measured = k_we - k_ws
    lat = [(ack[k] - emit_ns[k]) / 1e6 if ack[k] >= 0 else math.inf for k in range(k_ws, k_we)]
    acked = sum(1 for x in lat if x != math.inf)
    ordered = sorted(lat)
    fifth = max(1, measured // 5)
    first, last = statistics.median(lat[:fifth]), statistics.median(lat[-fifth:])
    emit_span_s = (emit_ns[k_we - 1] - emit_ns[k_ws]) / 1e9 * measured / max(1, measured - 1)
    growth_s = (last - first) / 1000 if math.isfinite(last) else None
    if growth_s is not None:
        # latency that grows over the window is a backlog: the pipeline delivered the window's records
        # in the window plus that growth (exact when it keeps up and when it does not)
        delivered_rate = acked / (emit_span_s + max(0.0, growth_s))
    else:
        last_ack = max((ack[k] for k in range(k_ws, k_we) if ack[k] >= 0), default=None)
        delivered_rate = acked / ((last_ack - emit_ns[k_ws]) / 1e9) if last_ack else 0.0
    offered = measured / emit_span_s
    # requests whose every span belongs to the window tell the steady batch size (edge requests are partial)
    window_reqs = {r for idx, r in zip(span_ids, span_req) if k_ws < idx <= k_we}
    edge = {r for idx, r in zip(span_ids, span_req) if not k_ws < idx <= k_we}
    interior = [per_req[r] for r in window_reqs - edge]
    per_request = statistics.mean(interior) if interior else (acked / len(window_reqs) if window_reqs else None)
    (p0, c0, l0), (p1, c1, l1) = snaps[0], snaps[1]
    call_s = sum(costs) / 1e9
    pipeline_cpu_s = (p1 - p0) - (c1 - c0) + call_s  # the emitting thread's pacing is not the pipeline's work
    pct = _percentiles(costs)
    keeps_up = (acked == measured and dropped == 0 and delivered_rate >= KEEP_UP_SHARE * offered
                and offered >= KEEP_UP_SHARE * cell["rate_per_s"])
    return {
        **{k: v for k, v in cell.items()}, "records_measured": measured, "records_total": n,
        "offered_per_s": offered, "delivered_per_s": delivered_rate, "acked": acked, "dropped": dropped,
        "drained": drained, "keeps_up": keeps_up,
        "latency_p50_ms": _finite(ordered[len(ordered) // 2]), "latency_p99_ms": _finite(ordered[int(len(ordered) * 0.99)]),
        "latency_max_ms": _finite(ordered[-1]), "latency_first_fifth_ms": _finite(first),
        "latency_last_fifth_ms": _finite(last),
        "requests_per_s": delivered_rate / per_request if per_request else None, "records_per_request": per_request,
        "cpu_us_per_record": pipeline_cpu_s / measured * 1e6, "process_cpu_us_per_record": (p1 - p0) / measured * 1e6,
        "loop_cpu_us_per_record": (l1 - l0) / measured * 1e6 if cell["contender"] != "sdk" else None,
        "emit_median_ns": pct.get("median"), "emit_p99_ns": pct.get("p99"), "emit_phase_s": emit_phase_ns / 1e9,
    }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None  # JSON has no infinity: None means "not acknowledged"


def main() -> None:
    spec = json.loads(sys.argv[1])
    pool = read_records(spec["records"], spec.get("pool"))
    for cell in spec["cells"]:
        result = run_cell(cell, spec, pool)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
