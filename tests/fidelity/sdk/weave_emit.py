"""Emit one call (start and end) with W&B Weave's own Python SDK to a local sink: python weave_emit.py URL < generation.json.

weave.init() first asks W&B's GraphQL API for the project, which a sink cannot answer, so this drives the
SDK's trace-server binding, RemoteHTTPTraceServer, that weave.init() sets up and every traced call goes through.
With the SDK's default settings it pairs the start and the end into one call for /v2/{entity}/{project}/calls/complete;
with WEAVE_USE_CALLS_COMPLETE=false it sends them as they are to /call/upsert_batch."""
import json
import sys
from datetime import datetime, timezone

from weave.trace_server_bindings.remote_http_trace_server import RemoteHTTPTraceServer

g = json.load(sys.stdin)


def at(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat()


server = RemoteHTTPTraceServer(sys.argv[1], should_batch=True, username="api", password="a" * 40)
call_id, project = "0193a3b0-0000-7000-8000-000000000001", "entity/spancast-probe"
server.call_start({"start": {
    "project_id": project, "id": call_id, "trace_id": g["trace_id"], "op_name": g["name"], "display_name": g["trace_name"],
    "started_at": at(g["start_time_ns"]), "thread_id": g["session_id"],
    "attributes": {"user_id": g["user"], "session_id": g["session_id"], "provider": g["provider"]},
    "inputs": {"model": g["model"], **g["model_parameters"], "messages": g["messages"]}}})
server.call_end({"end": {
    "project_id": project, "id": call_id, "trace_id": g["trace_id"], "ended_at": at(g["end_time_ns"]),
    "output": {"choices": [{"index": 0, "message": {"role": "assistant", "content": g["completion"]},
                            "finish_reason": g["finish_reason"]}]},
    "summary": {"usage": {g["model"]: {"requests": 1, "prompt_tokens": g["prompt_tokens"],
                                       "completion_tokens": g["completion_tokens"],
                                       "total_tokens": g["prompt_tokens"] + g["completion_tokens"]}}}}})
for processor in (getattr(server, name, None) for name in dir(server) if name.endswith("processor")):
    stop = getattr(processor, "stop_accepting_new_work_and_flush_queue", None)
    if stop:
        stop()  # the batch goes out here, before the process ends
