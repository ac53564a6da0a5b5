"""The evidence behind each destination type's fidelity: the strongest the suite has, and the test that holds it.

Levels, strongest first: "real server" (the suite starts it and reads back what it shows), "vendor code" (the
vendor's own ingestion code, run as it is or encoded as an oracle that cites repository, file and commit),
"vendor SDK" (the vendor's official SDK run against a local sink, its request compared with spancast's),
"documentation only" (the contract suite: what the vendor documents, checked by a local fake). README.md's destinations table
shows these levels; tests/fidelity/test_fidelity_evidence.py holds the two equal.
"""

from __future__ import annotations

LEVELS = ("real server", "vendor code", "vendor SDK", "documentation only")

SERVERS = "fidelity/test_fidelity_servers.py"
ORACLES = "fidelity/test_fidelity_vendor_code.py"
SDKS = "fidelity/test_fidelity_sdks.py"

#: type -> (level, what it rests on, the test file and function that hold it)
EVIDENCE: dict[str, tuple[str, str, str]] = {
    "phoenix": ("real server", "Arize Phoenix 20.26, read back through its REST and GraphQL APIs",
                f"{SERVERS}::test_phoenix_shows_every_generation_as_the_records_say"),
    "mlflow": ("real server", "MLflow 3.17 on SQLite, read back through /api/3.0/mlflow/traces",
               f"{SERVERS}::test_mlflow_shows_every_generation_as_the_records_say"),
    "otel-collector": ("real server", "its default gen_ai flavour in Phoenix and MLflow",
                       f"{SERVERS}::test_phoenix_shows_every_generation_as_the_records_say"),
    "clickhouse": ("real server", "clickhouse-server 18.16 and a current engine (chdb)",
                   "test_clickhouse.py::test_rows_arrive_field_by_field"),
    "s3": ("real server", "moto's S3, which verifies SigV4", "test_s3.py::test_trace_layout_writes_one_object_per_generation"),
    "redis": ("real server", "redis-server", "test_redis_destination.py::test_records_are_xadded_one_entry_each_and_read_back_as_the_same_records"),
    "file": ("real server", "the file itself, read back", "test_file_destination.py::test_records_land_as_otlp_json_lines_and_files_rotate"),
    "langfuse": ("vendor code", "langfuse/langfuse OtelIngestionProcessor.ts @ 62751446149b; the langfuse 5.2 SDK's keys",
                 f"{ORACLES}::test_langfuse_shows_usage_cost_model_io_level_and_completion_start"),
    "arize": ("documentation only", "OpenInference, the flavour Phoenix renders (same conventions, Arize's cloud)",
              "test_contract.py::test_delivers_a_batch"),
    "grafana": ("documentation only", "Grafana Cloud's OTLP gateway docs", "test_contract.py::test_delivers_a_batch"),
    "langsmith": ("vendor SDK", "langsmith 0.15.1's OTel export of the same run",
                  f"{SDKS}::test_langsmith_gets_the_run_langsmiths_sdk_sends_over_otel"),
    "newrelic": ("documentation only", "New Relic's OTLP docs and limits", "test_contract.py::test_delivers_a_batch"),
    "sentry": ("vendor SDK", "sentry-sdk 2.76's OTLPIntegration export of the same span, SPANDATA keys",
               f"{SDKS}::test_sentry_gets_the_span_sentrys_sdk_exports_over_otlp"),
    "elastic": ("documentation only", "Elastic's managed OTLP docs", "test_contract.py::test_delivers_a_batch"),
    "ramp": ("documentation only", "OpenRouter's own payload (the openrouter flavour) and Ramp's write-up",
             "test_presets_otlp2.py::test_ramp_json_carries_every_usage_field_ramp_reads"),
    "braintrust": ("vendor SDK", "braintrust 0.48.1's OTel exporter (transport) and logger row (values and units)",
                   f"{SDKS}::test_braintrust_gets_the_transport_and_values_braintrusts_sdk_sends"),
    "opik": ("vendor SDK", "opik 2.2.122's trace and span for the same generation (REST route), its usage from an OpenAI-shaped usage object",
             f"{SDKS}::test_opik_sends_the_trace_and_span_opiks_sdk_sends"),
    # Two routes, two kinds of evidence: the OTLP route's spans run through Weave's own server conversion
    # (the test named here); the calls route, the default, against weave 0.54's SDK
    # (fidelity/test_fidelity_sdks.py::test_weave_sends_the_call_weaves_sdk_sends).
    "weave": ("vendor code", "weave 0.52.43's own OTel-to-call conversion, run (OTLP route); weave 0.54's SDK call "
                             "for the same generation (calls route)",
              f"{ORACLES}::test_weave_shows_each_generation_as_the_records_say"),
    "posthog": ("vendor SDK", "posthog 7.91's capture of the same generation",
                f"{SDKS}::test_posthog_sends_what_posthogs_sdk_sends"),
    "raindrop": ("vendor SDK", "raindrop-ai 0.0.28's track_ai of the same generation",
                 f"{SDKS}::test_raindrop_sends_what_raindrops_sdk_sends"),
    "datadog": ("vendor SDK", "ddtrace 4.16's LLM Observability workflow, task and llm spans for the same generation, and a failed call",
                f"{SDKS}::test_datadog_sends_the_span_ddtraces_llmobs_sends"),
    "snowflake": ("documentation only", "Snowflake's SQL API docs", "test_snowflake.py"),
    "bigquery": ("documentation only", "BigQuery's insertAll docs", "test_bigquery.py"),
    "webhook": ("documentation only", "OpenRouter's webhook page", "test_contract.py::test_delivers_a_batch"),
}
