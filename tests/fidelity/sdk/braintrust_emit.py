"""Emit one llm span with Braintrust's own Python SDK to a local sink, both ways it sends spans: its logger's
row (POST /logs3, Braintrust's own vocabulary for input, output, metrics and times) and one span through its
OpenTelemetry exporter (braintrust.otel.OtelExporter, the route spancast's braintrust destination uses).
python braintrust_emit.py URL < generation.json"""
import json
import sys

import braintrust
from braintrust.otel import OtelExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

g = json.load(sys.stdin)
url, key, project_id = sys.argv[1], "sk-bt-sdk-differential", "00000000-0000-0000-0000-000000000001"

# login (POST /api/apikey/login) answers with the org's api_url: the sink's
logger = braintrust.init_logger(project="spancast-probe", project_id=project_id, api_key=key, app_url=url,
                                force_login=True)
span = logger.start_span(name=g["name"], type="llm", start_time=g["start_time_ns"] / 1e9)
span.log(input=g["messages"], output=[{"role": "assistant", "content": g["completion"]}],
         metadata={"model": g["model"], "provider": g["provider"], "user_id": g["user"], "session_id": g["session_id"],
                   **g["model_parameters"]},
         metrics={"prompt_tokens": g["prompt_tokens"], "completion_tokens": g["completion_tokens"],
                  "tokens": g["prompt_tokens"] + g["completion_tokens"], "prompt_cached_tokens": g["cached_tokens"],
                  "time_to_first_token": g["ttft_s"]})
span.end(end_time=g["end_time_ns"] / 1e9)
logger.flush()

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(OtelExporter(url=url + "/otel/v1/traces", api_key=key,
                                                             parent=f"project_id:{project_id}")))
provider.get_tracer("braintrust-emit").start_span(g["name"], start_time=g["start_time_ns"]).end(end_time=g["end_time_ns"])
provider.shutdown()
