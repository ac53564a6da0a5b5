"""Emit one $ai_generation with PostHog's own Python SDK to a local sink: python posthog_emit.py URL < generation.json."""
import json
import sys

from posthog import Posthog

g = json.load(sys.stdin)
ph = Posthog("phc_sdk_differential", host=sys.argv[1], sync_mode=True)
ph.capture(event="$ai_generation", distinct_id=g["user"], properties={
    "$ai_trace_id": g["trace_id"], "$ai_session_id": g["session_id"], "$ai_span_name": g["name"],
    "$ai_model": g["model"], "$ai_provider": g["provider"], "$ai_input": g["messages"],
    "$ai_output_choices": [{"role": "assistant", "content": g["completion"]}],
    "$ai_input_tokens": g["prompt_tokens"], "$ai_output_tokens": g["completion_tokens"],
    "$ai_cache_read_input_tokens": g["cached_tokens"], "$ai_input_cost_usd": g["input_cost"],
    "$ai_output_cost_usd": g["output_cost"], "$ai_total_cost_usd": g["total_cost"], "$ai_latency": g["latency_s"],
    "$ai_time_to_first_token": g["ttft_s"], "$ai_is_error": False, "$ai_stop_reason": g["finish_reason"]})
ph.flush()
ph.shutdown()
