"""One timed pipeline run (one contender, one scenario) in a fresh process: warm up, burst, wait for acks, report JSON."""

from __future__ import annotations

import asyncio
import cProfile
import gc
import json
import os
import resource
import struct
import sys
import time
import urllib.request
from array import array
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # run as `python benchmarks/pipeline_child.py SPEC`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec

from spancast import Generation

FRAME = struct.Struct("<Q")
FLUSH_TIMEOUT_S = 600.0


# ---------------------------------------------------------------- records, shared through a file of msgpack frames


def write_records(path: str, records: list[Generation], chunk: int = 4096) -> None:
    with open(path, "wb") as f:
        for i in range(0, len(records), chunk):
            data = msgspec.msgpack.encode(records[i : i + chunk])
            f.write(FRAME.pack(len(data)) + data)


def read_records(path: str, limit: int | None = None) -> list[Generation]:
    """Frame by frame, so that loading never holds the whole file and the records at once (peak RSS)."""
    decoder = msgspec.msgpack.Decoder(list[Generation])
    out: list[Generation] = []
    with open(path, "rb") as f:
        while (limit is None or len(out) < limit) and (header := f.read(FRAME.size)):
            out.extend(decoder.decode(f.read(FRAME.unpack(header)[0])))
    return out


# ---------------------------------------------------------------- helpers


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=600) as resp:
        return json.loads(resp.read())


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _timer_overhead_ns() -> int:
    pc = time.perf_counter_ns
    gaps = sorted(-(pc() - pc()) for _ in range(20_000))
    return gaps[len(gaps) // 2]


def _percentiles(costs: array) -> dict[str, int]:
    s = sorted(costs)
    n = len(s)
    return {"median": s[n // 2], "p90": s[int(n * 0.9)], "p99": s[int(n * 0.99)], "max": s[-1]} if n else {}


def _burst(records: list, call: Callable[[Any], Any], hold: bool = False) -> tuple[array, int]:
    """Call once per record as fast as possible, timing each call; (per-call ns, calls that returned False).
    Unless hold, the list lets go of each record once handed over, as an app does: the contender holds the
    last reference and pays for freeing it once delivered, as spancast serve does for the records it decodes."""
    costs = array("q", bytes(8 * len(records)))
    pc = time.perf_counter_ns
    refused = 0
    for i in range(len(records)):
        rec = records[i]
        if not hold:
            records[i] = None
        t = pc()
        ok = call(rec)
        costs[i] = pc() - t
        del rec
        if ok is False:
            refused += 1
    return costs, refused


def endpoints(base: str, n: int) -> list[str]:
    return [f"{base}/d{k + 1}/v1/traces" for k in range(n)]


# ---------------------------------------------------------------- contenders: each returns (call, finish, info)


def spancast_contender(spec: dict) -> tuple[Any, Callable[[], bool], Callable[[], dict], Any]:
    from spancast import Broadcaster

    dests = [{"type": "otel-collector", "endpoint": url, "compression": spec["compression"], "name": f"d{k + 1}",
              **({"keepMedia": True} if spec.get("keep_media") else {}),
              **({"id_namespace": "bench"} if spec.get("shared_ids") else {})}
             for k, url in enumerate(endpoints(spec["base"], spec["destinations"]))]
    stalled = spec["contender"] == "spancast-stalled"
    if stalled:  # one more destination, whose every request hangs (the timeout outlasts the run)
        dests.append({"type": "otel-collector", "endpoint": spec["base"] + "/stall/v1/traces",
                      "compression": spec["compression"], "name": "stalled", "timeout_s": 3600})
    b = Broadcaster(dests).start()  # default settings throughout (max_batch_records=512, ...)
    names = [f"d{k + 1}" for k in range(spec["destinations"])]

    def info() -> dict:
        st = b.stats()
        dests = {name: st["destinations"][name] for name in names}  # the stalled one is not measured
        dropped = sum(sum(d["dropped"].values()) for d in dests.values())
        return {"claimed": [dests[name]["delivered"] for name in names],
                "dropped_by_reason": [dests[name]["dropped"] for name in names],
                "intake_dropped": st["intake"]["dropped"],
                # a record the intake refused is missing at every destination
                "reported_drops": dropped + st["intake"]["dropped"] * len(names),
                "retried": sum(d["retried"] for d in dests.values()),
                "batches": [dests[name]["batches"] for name in names],
                # records a lane copied from another lane's rendering, and rendered itself (a build before
                # span sharing, run for an A/B comparison, has no span caches)
                "span_cache": [sum(c.hits for c in caches.values()), sum(c.misses for c in caches.values())],
                # bodies a lane sent compressed by another lane of its group, and compressed itself
                "body_share": [sum(s.hits for s in shares), sum(s.misses for s in shares)]}

    caches = getattr(b, "span_caches", {})
    shares = getattr(b, "body_shares", [])

    def finish() -> bool:
        if not stalled:
            return b.flush(FLUSH_TIMEOUT_S)
        # flush() would wait for the stalled destination: start a flush without waiting (it sends the partial
        # batches), then wait for the measured destinations to have nothing queued or in flight
        b.flush(0)
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while time.monotonic() < deadline:
            st = b.stats()["destinations"]
            if all(st[name]["queued"] == 0 and st[name]["in_flight"] == 0 for name in names):
                return True
            time.sleep(0.001)  # a poll, not a wait for time to pass: stats() is a round trip to the loop
        return False

    return b.emit, finish, info, b


def sdk_contender(spec: dict) -> tuple[Any, Callable[[], bool], Callable[[], dict], Any]:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from spancast import __version__
    from benchmarks.baselines import sdk_call

    compression = {"none": Compression.NoCompression, "gzip": Compression.Gzip}[spec["compression"]]
    provider = TracerProvider(resource=Resource.create({"service.name": "spancast"}))
    extra = {"max_queue_size": max(2048, spec["n"] + spec["warmup"])} if spec["contender"] == "sdk-bigq" else {}
    for url in endpoints(spec["base"], spec["destinations"]):  # one processor + exporter per destination
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url, compression=compression), **extra))
    tracer = provider.get_tracer("spancast", __version__)
    call = sdk_call(tracer)

    return call, lambda: provider.force_flush(int(FLUSH_TIMEOUT_S * 1000)), lambda: {}, provider


def ceiling_contender(spec: dict, records: list) -> tuple[Callable[[], bool], Callable[[], dict], Any]:
    """Reference, not a contender: spancast's bodies pre-encoded (and pre-compressed) outside the timing, then
    POSTed by a bare aiohttp client on uvloop, 4 at a time per destination: this box's HTTP ceiling."""
    import aiohttp
    import uvloop

    from spancast.codec import TraceEncoder
    from spancast.pipeline.compress import Compressor

    comp = Compressor(spec["compression"])
    bodies = []
    for i in range(0, len(records), 512):
        enc = TraceEncoder(format="protobuf")
        enc.extend(records[i : i + 512])
        bodies.append(comp.compress(enc.finish()))
    headers = {"Content-Type": "application/x-protobuf"}
    if comp.content_encoding:
        headers["Content-Encoding"] = comp.content_encoding
    urls = endpoints(spec["base"], spec["destinations"])

    async def post_all() -> bool:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:
            async def lane(url: str) -> None:
                sem = asyncio.Semaphore(4)

                async def one(body: bytes) -> None:
                    async with sem, session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        assert resp.status == 200

                await asyncio.gather(*(one(body) for body in bodies))

            await asyncio.gather(*(lane(url) for url in urls))
        return True

    return lambda: uvloop.run(post_all()), lambda: {"wire_bytes_per_dest": sum(map(len, bodies))}, None


# ---------------------------------------------------------------- the run


def run(spec: dict) -> dict:
    pool = read_records(spec["records"])
    records, warm = pool[: spec["n"]], pool[spec["n"] : spec["n"] + spec["warmup"]]  # warm-up: other records
    del pool
    gc.collect()
    gc.freeze()  # the record pool is not garbage: keep the collector from walking 100k records on every pass
    contender = spec["contender"]
    out: dict[str, Any] = {"spec": {k: v for k, v in spec.items() if k != "records"}}
    loop_prof = main_prof = None
    if contender == "ceiling":
        go, info, handle = ceiling_contender(spec, records)
        before = {}
        _get(spec["base"] + "/_reset")
        rss0, cpu0, t0 = _rss_mb(), time.process_time(), time.perf_counter_ns()
        flushed = go()
        t1 = time.perf_counter_ns()
        emit_end, costs, refused = t1, array("q"), 0
    else:
        call, flush, info, handle = (spancast_contender if contender.startswith("spancast") else sdk_contender)(spec)
        _burst(warm, call)  # warm-up: connections, imports, caches and first-touch memory of the pipeline
        out["warmup_flushed"] = flush()
        before = info()  # spancast's counters are cumulative: the timed run's are the difference
        _get(spec["base"] + "/_reset")
        if spec.get("profile"):
            # timer = the thread's own CPU time, so that waiting for the GIL is not counted as work
            main_prof, loop_prof = (cProfile.Profile(time.thread_time_ns, 1e-9) for _ in range(2))
            asyncio.run_coroutine_threadsafe(_call(loop_prof.enable), handle.loop).result()
            main_prof.enable()
        loop_cpu0 = _loop_cpu(handle)
        rss0, cpu0, caller0, t0 = _rss_mb(), time.process_time(), time.thread_time(), time.perf_counter_ns()
        costs, refused = _burst(records, call, spec.get("hold", False))
        emit_end = time.perf_counter_ns()
        flushed = flush()
        t1 = time.perf_counter_ns()
        caller, loop = time.thread_time() - caller0, _loop_cpu(handle) - loop_cpu0
    cpu1 = time.process_time()
    if contender != "ceiling":
        out["threads_cpu_s"] = {"caller": caller, "loop": loop, "other": cpu1 - cpu0 - caller - loop}
    if main_prof is not None:
        main_prof.disable()
        asyncio.run_coroutine_threadsafe(_call(loop_prof.disable), handle.loop).result()
        main_prof.dump_stats(spec["profile"] + ".main")
        loop_prof.dump_stats(spec["profile"] + ".loop")
    sink_cpu = _get(spec["base"] + "/_cpu")
    claimed = _minus(info(), before)
    sink = _get(spec["base"] + "/_stats")
    if contender.startswith("spancast"):
        handle.close(1 if contender == "spancast-stalled" else 10)
    elif contender != "ceiling":
        handle.shutdown()
    out.update(
        elapsed_s=(t1 - t0) / 1e9, emit_phase_s=(emit_end - t0) / 1e9, flushed=flushed, refused=refused,
        cpu_s=cpu1 - cpu0, sink_cpu_s=sink_cpu["cpu_s"], sink_wall_s=sink_cpu["wall_s"],
        emit_ns=_percentiles(costs), timer_ns=_timer_overhead_ns(), rss_before_mb=rss0,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        delivered=[sink["paths"].get(f"/d{k + 1}/v1/traces", {}).get("spans", 0) for k in range(spec["destinations"])],
        sink_paths=sink["paths"], **claimed,
    )
    return out


def _loop_cpu(handle: Any) -> float:
    """CPU seconds of spancast's loop thread so far (0 for the SDK, which has no loop)."""
    loop = getattr(handle, "loop", None)
    return asyncio.run_coroutine_threadsafe(_call(time.thread_time), loop).result() if loop else 0.0


def _minus(after: Any, before: Any) -> Any:
    """after - before, field by field, for numbers and the lists and dicts of them that info() returns."""
    if isinstance(after, dict):
        return {k: _minus(v, before.get(k, 0) if isinstance(before, dict) else 0) for k, v in after.items()}
    if isinstance(after, list):
        return [_minus(a, b) for a, b in zip(after, before if isinstance(before, list) else [0] * len(after))]
    return after - before if before else after


async def _call(fn: Callable[[], Any]) -> Any:
    return fn()


def child_main(run_spec: Callable[[dict], dict]) -> None:
    """A child's entry point: the spec (JSON) from argv, its result (JSON) to the spec's "out" file."""
    spec = json.loads(sys.argv[1])
    result = run_spec(spec)
    with open(spec["out"], "w") as f:
        json.dump(result, f)


def main() -> None:
    child_main(run)


if __name__ == "__main__":
    main()
