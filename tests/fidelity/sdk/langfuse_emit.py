"""Emit one generation with Langfuse's own Python SDK to a local sink: python langfuse_emit.py URL < generation.json."""
import json
import sys
from datetime import datetime, timedelta, timezone

from langfuse import Langfuse, propagate_attributes

g = json.load(sys.stdin)
lf = Langfuse(public_key="pk-lf-sdk", secret_key="sk-lf-sdk", base_url=sys.argv[1])
with lf.start_as_current_observation(as_type="span", name=g["trace_name"]):
    with propagate_attributes(user_id=g["user"], session_id=g["session_id"], trace_name=g["trace_name"]):
        with lf.start_as_current_observation(
                as_type="generation", name=g["name"], model=g["model"], input=g["messages"],
                model_parameters=g["model_parameters"],
                completion_start_time=datetime.now(timezone.utc) + timedelta(milliseconds=g["ttft_s"] * 1000)) as gen:
            gen.update(output={"role": "assistant", "content": g["completion"]},
                       usage_details={"input": g["prompt_tokens"] - g["cached_tokens"],
                                      "input_cached_tokens": g["cached_tokens"], "output": g["completion_tokens"],
                                      "total": g["prompt_tokens"] + g["completion_tokens"]},
                       cost_details={"input": g["input_cost"], "output": g["output_cost"], "total": g["total_cost"]})
lf.flush()
lf.shutdown()
