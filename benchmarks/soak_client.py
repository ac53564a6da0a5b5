"""The soak's client: posts records to spancast serve at a steady rate, noting each id once sent and once acknowledged (202).

python -m benchmarks.soak_client URL SENT_FILE ACKED_FILE --rate N [--per-request N] [--text-bytes N]

Runs until killed. A refused or failed request is not retried (its ids stay sent, not acknowledged), as a
gateway that drops what it could not hand over would; the acknowledged ones are what spancast owes.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak_client")
    p.add_argument("url")
    p.add_argument("sent")
    p.add_argument("acked")
    p.add_argument("--rate", type=float, required=True, help="records per second")
    p.add_argument("--per-request", type=int, default=20)
    p.add_argument("--text-bytes", type=int, default=500, help="completion text per record")
    p.add_argument("--prefix", default="soak")
    args = p.parse_args()
    every_s = args.per_request / args.rate
    n, due = 0, time.monotonic()
    with open(args.sent, "a") as sent, open(args.acked, "a") as acked:
        while True:
            ids = [f"{args.prefix}-{n + i}" for i in range(args.per_request)]
            n += args.per_request
            now = time.time_ns()
            body = "\n".join(json.dumps({"id": i, "model": "openai/gpt-4o", "start_time_ns": now - 900_000_000,
                                         "end_time_ns": now, "prompt_tokens": 12, "completion_tokens": 30,
                                         "completion": "x" * args.text_bytes}) for i in ids).encode()
            sent.write("\n".join(ids) + "\n")
            sent.flush()
            request = urllib.request.Request(args.url + "/v1/generations", data=body,
                                             headers={"Content-Type": "application/x-ndjson"})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    if answer.status == 202 and json.loads(answer.read())["accepted"] == len(ids):
                        acked.write("\n".join(ids) + "\n")
                        acked.flush()
            except (urllib.error.URLError, OSError, ValueError):
                pass  # refused (503), or the server is down: not acknowledged
            due = max(due + every_s, time.monotonic() - 1.0)  # a steady rate: a slow answer is caught up, a long outage not
            time.sleep(max(0.0, due - time.monotonic()))


if __name__ == "__main__":
    main()
