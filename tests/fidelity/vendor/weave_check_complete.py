"""Check a calls/complete body with Weave's own server code: python weave_check_complete.py < body.json.

Runs in .venv-weave-server (weave 0.52.43): the request model the route parses (trace_server_interface.py
CallsUpsertCompleteReq) and the validators its server applies to each call's ids and names (validation.py;
the project id is checked after W&B turns entity/project into its internal id, so not here).
Exits non-zero, with the reason, on a body Weave would refuse; prints the number of calls otherwise."""
import sys

from weave.trace_server import validation as v
from weave.trace_server.trace_server_interface import CallsUpsertCompleteReq

req = CallsUpsertCompleteReq.model_validate_json(sys.stdin.buffer.read())
for call in req.batch:
    v.call_id_validator(call.id)
    v.trace_id_validator(call.trace_id)
    v.parent_id_validator(call.parent_id)
    v.display_name_validator(call.display_name)
    v.op_name_validator(call.op_name)
print(len(req.batch))
