"""The serve benchmark's client, in its own process: POSTs pre-built bodies to spancast serve, C at a time, flat
out or paced at an offered rate, and prints one JSON line: records sent and accepted, statuses, latency per request.

python -m benchmarks.serve_client URL ROUTE BODIES_FILE --count N [--concurrency C] [--rate RECORDS_PER_S]
BODIES_FILE: msgpack [[content_type, records_in_body, body], ...]; bodies are sent round robin until N are sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp
import msgspec


async def run(args: argparse.Namespace) -> dict:
    bodies = msgspec.msgpack.decode(open(args.bodies, "rb").read())
    cpu0 = time.process_time()
    latencies: list[int] = []
    statuses: dict[str, int] = {}
    sent = accepted = 0
    next_body = 0
    # paced: body k may start at start + k * (records per body / rate); flat out: as soon as a slot is free
    per_body_s = (bodies[0][1] / args.rate) if args.rate else 0.0
    start = time.monotonic()
    connector = aiohttp.TCPConnector(limit=args.concurrency, force_close=False)
    async with aiohttp.ClientSession(args.url, connector=connector) as session:
        async def worker() -> None:
            nonlocal next_body, sent, accepted
            while next_body < args.count:
                k = next_body
                next_body += 1
                content_type, n, body = bodies[k % len(bodies)]
                if per_body_s:
                    delay = start + k * per_body_s - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                t0 = time.perf_counter_ns()
                async with session.post(args.route, data=body, headers={"Content-Type": content_type}) as r:
                    answer = await r.read()
                latencies.append(time.perf_counter_ns() - t0)
                statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
                sent += n
                if r.status == 202:
                    accepted += json.loads(answer)["accepted"]
                elif r.status == 200:  # OTLP: every span, less the partial success's rejected ones
                    rejected = json.loads(answer).get("partialSuccess", {}).get("rejectedSpans", 0) if answer[:1] == b"{" else 0
                    accepted += n - int(rejected)

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed = time.monotonic() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1e6 if latencies else None  # noqa: E731
    return {"sent": sent, "accepted": accepted, "statuses": statuses, "elapsed_s": elapsed, "requests": len(latencies),
            "started_monotonic": start,  # CLOCK_MONOTONIC: the same clock in every process of the machine
            "client_cpu_s": time.process_time() - cpu0,
            "latency_ms_p50": pick(0.5), "latency_ms_p99": pick(0.99)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("route")
    parser.add_argument("bodies")
    parser.add_argument("--count", type=int, required=True, help="bodies to send")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate", type=float, default=0.0, help="offered records per second (0: flat out)")
    args = parser.parse_args()
    try:
        import uvloop

        result = uvloop.run(run(args))
    except ImportError:
        result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
