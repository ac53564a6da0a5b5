"""Emit one llm run under a chain run with LangSmith's own Python SDK, in its OpenTelemetry mode, to a local sink:
python langsmith_emit.py URL < generation.json. OTel mode because that is the wire spancast's langsmith destination
uses (<endpoint>/otel/v1/traces); the SDK's own run -> span mapping (langsmith/_internal/otel/_otel_exporter.py)
then says which attributes LangSmith expects there."""
import json
import os
import sys
from datetime import datetime, timezone

g = json.load(sys.stdin)
os.environ.update({"LANGSMITH_OTEL_ENABLED": "true", "LANGSMITH_OTEL_ONLY": "true", "LANGSMITH_TRACING": "true",
                   "LANGSMITH_ENDPOINT": sys.argv[1], "LANGSMITH_API_KEY": "lsv2_pt_sdk_differential",
                   "LANGSMITH_PROJECT": "spancast-probe"})

from langsmith import Client, RunTree  # noqa: E402  (after the environment it reads)


def at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


client = Client()
start, end = at(g["start_time_ns"]), at(g["end_time_ns"])
root = RunTree(name=g["trace_name"], run_type="chain", inputs={"messages": g["messages"]}, ls_client=client,
               start_time=start, extra={"metadata": {"session_id": g["session_id"], "user_id": g["user"]}})
root.post()
llm = root.create_child(name=g["name"], run_type="llm", start_time=start,
                        inputs={"messages": g["messages"], "model": g["model"], **g["model_parameters"]},
                        extra={"metadata": {"ls_provider": g["provider"], "ls_model_name": g["model"],
                                            "session_id": g["session_id"], "user_id": g["user"]}})
llm.post()
llm.end(end_time=end, outputs={
    "choices": [{"message": {"role": "assistant", "content": g["completion"]}, "finish_reason": g["finish_reason"]}],
    "usage_metadata": {"input_tokens": g["prompt_tokens"], "output_tokens": g["completion_tokens"],
                       "total_tokens": g["prompt_tokens"] + g["completion_tokens"],
                       "input_token_details": {"cache_read": g["cached_tokens"]},
                       "input_cost": g["input_cost"], "output_cost": g["output_cost"], "total_cost": g["total_cost"]}})
llm.patch()
root.end(end_time=end, outputs={"completion": g["completion"]})
root.patch()
client.flush()
from opentelemetry import trace  # noqa: E402

provider = trace.get_tracer_provider()  # the SDK's OTLP provider batches: flush it before exiting
getattr(provider, "force_flush", lambda: None)()
getattr(provider, "shutdown", lambda: None)()
