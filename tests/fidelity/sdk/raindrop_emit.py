"""Emit one AI event with Raindrop's own Python SDK to a local sink: python raindrop_emit.py URL < generation.json."""
import json
import sys

import raindrop.analytics as raindrop

g = json.load(sys.stdin)
raindrop.write_key = "rk_sdk_differential"
raindrop.api_url = sys.argv[1] + "/v1/"  # raindrop-ai 0.0.28 has no setting for it but this module global
raindrop.track_ai(user_id=g["user"], event=g["name"], model=g["model"], input=g["messages"][-1]["content"],
                  output=g["completion"], convo_id=g["session_id"],
                  properties={"provider": g["provider"], "total_cost": g["total_cost"], "prompt_tokens": g["prompt_tokens"],
                              "completion_tokens": g["completion_tokens"], "finish_reason": g["finish_reason"]})
raindrop.flush()
raindrop.shutdown()
