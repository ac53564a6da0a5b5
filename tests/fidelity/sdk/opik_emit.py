"""Emit one trace holding one llm span with Opik's own Python SDK to a local sink: python opik_emit.py URL < generation.json."""
import json
import os
import sys
from datetime import datetime, timezone

g = json.load(sys.stdin)
os.environ.update({"OPIK_URL_OVERRIDE": sys.argv[1] + "/api", "OPIK_API_KEY": "opik_sdk_differential",
                   "OPIK_WORKSPACE": "ws", "OPIK_PROJECT_NAME": "spancast-probe", "OPIK_TRACK_DISABLE": "false"})

import opik  # noqa: E402  (after the environment it reads)


def at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


client = opik.Opik(project_name="spancast-probe", workspace="ws", api_key="opik_sdk_differential",
                   host=sys.argv[1] + "/api")
start, end = at(g["start_time_ns"]), at(g["end_time_ns"])
output = {"choices": [{"index": 0, "message": {"role": "assistant", "content": g["completion"]},
                       "finish_reason": g["finish_reason"]}]}
# The usage object an OpenAI-compatible API (OpenRouter's) answers with, as the SDK's OpenAI integration passes it on.
usage = {"prompt_tokens": g["prompt_tokens"], "completion_tokens": g["completion_tokens"],
         "total_tokens": g["prompt_tokens"] + g["completion_tokens"],
         "prompt_tokens_details": {"cached_tokens": g["cached_tokens"]},
         "completion_tokens_details": {"reasoning_tokens": g.get("reasoning_tokens")}}
if g.get("cache_write_tokens") is not None:
    usage["prompt_tokens_details"]["cache_write_tokens"] = g["cache_write_tokens"]
trace = client.trace(name=g["trace_name"], start_time=start, end_time=end, input={"messages": g["messages"]},
                     output=output, metadata={"user_id": g["user"]}, thread_id=g["session_id"])
trace.span(name=g["name"], type="llm", start_time=start, end_time=end, model=g["model"], provider=g["provider"],
           input={"messages": g["messages"]}, output=output,
           usage=usage,
           total_cost=g["total_cost"])
client.flush()
client.end()
