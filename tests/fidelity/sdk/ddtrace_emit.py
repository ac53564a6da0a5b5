"""Emit one generation's trace with Datadog's own Python SDK (ddtrace's LLM Observability, agentless) to a local
sink: a workflow span named trace_name, a task span for span_name when given, and the llm span under them, as
an application instrumented with LLMObs.workflow()/task()/llm() sends it. python ddtrace_emit.py URL < generation.json
(an "error_message" makes the llm call raise, as a failed provider call would)."""
import contextlib
import json
import os
import sys

g = json.load(sys.stdin)
# DD_LLMOBS_OVERRIDE_ORIGIN replaces the agentless intake's https://llmobs-intake.<site> (ddtrace/llmobs/_writer.py);
# APM tracing, telemetry and remote config stay off so nothing else goes looking for an agent.
os.environ.update({"DD_LLMOBS_OVERRIDE_ORIGIN": sys.argv[1], "DD_API_KEY": "dd_sdk_differential",
                   "DD_SITE": "datadoghq.com", "DD_TRACE_ENABLED": "false", "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
                   "DD_REMOTE_CONFIGURATION_ENABLED": "false"})

from ddtrace.llmobs import LLMObs  # noqa: E402  (after the environment it reads)


class ProviderError(Exception):
    pass


LLMObs.enable(ml_app="spancast-probe", agentless_enabled=True, site="datadoghq.com", api_key=os.environ["DD_API_KEY"],
              integrations_enabled=False)
# The exception leaves the workflow too, as it would leave an application's function: dd-trace fails both spans.
with contextlib.suppress(ProviderError):
    with LLMObs.workflow(name=g["trace_name"], session_id=g["session_id"]):
        with LLMObs.task(name=g["span_name"]) if g.get("span_name") else contextlib.nullcontext():
            with LLMObs.llm(model_name=g["model"], model_provider=g["provider"], name=g["name"],
                            session_id=g["session_id"]) as span:
                LLMObs.annotate(span=span, input_data=g["messages"],
                                output_data=[{"role": "assistant", "content": g["completion"]}],
                                metadata={**g["model_parameters"], "finish_reason": g["finish_reason"]},
                                metrics={"input_tokens": g["prompt_tokens"], "output_tokens": g["completion_tokens"],
                                         "total_tokens": g["prompt_tokens"] + g["completion_tokens"],
                                         "cache_read_input_tokens": g["cached_tokens"], "input_cost": g["input_cost"],
                                         "output_cost": g["output_cost"], "total_cost": g["total_cost"],
                                         "time_to_first_token": g["ttft_s"]},
                                tags={"user_id": g["user"]})
                if g.get("error_message"):
                    raise ProviderError(g["error_message"])
LLMObs.flush()
LLMObs.disable()
