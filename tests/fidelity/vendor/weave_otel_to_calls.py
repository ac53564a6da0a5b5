"""Turn an OTLP protobuf request into Weave calls with Weave's own server code: python weave_otel_to_calls.py < body.pb.

Runs in .venv-weave-server (weave 0.52.43, the last wheel that carries weave/trace_server). It does what
ClickHouseTraceServer._otel_proto_to_calls and otel_export do (weave/trace_server/clickhouse_trace_server_batched.py)
up to the database: Resource.from_proto, Span.from_proto (a span whose attributes conflict is rejected, as the
server rejects it), Span.to_call (weave/trace_server/opentelemetry/python_spans.py), and the op name the call's
op ref gets (object_creation_utils.make_safe_name). Prints JSON: {"calls": [{"start", "end", "op_ref_name"}],
"rejected": [message, ...]}."""
import json
import sys

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from weave.trace_server.object_creation_utils import make_safe_name
from weave.trace_server.opentelemetry.helpers import AttributePathConflictError
from weave.trace_server.opentelemetry.python_spans import Resource, Span

request = ExportTraceServiceRequest.FromString(sys.stdin.buffer.read())
calls, rejected = [], []
for resource_spans in request.resource_spans:
    resource = Resource.from_proto(resource_spans.resource)
    for scope_spans in resource_spans.scope_spans:
        for proto_span in scope_spans.spans:
            try:
                span = Span.from_proto(proto_span, resource)
            except AttributePathConflictError as e:
                rejected.append(f"{proto_span.name}: {e}")
                continue
            start, end = span.to_call("entity/project", wb_user_id="user")
            calls.append({"start": start.model_dump(mode="json", exclude={"otel_dump"}),
                          "end": end.model_dump(mode="json"),
                          "op_ref_name": make_safe_name(start.op_name)})
json.dump({"calls": calls, "rejected": rejected}, sys.stdout)
