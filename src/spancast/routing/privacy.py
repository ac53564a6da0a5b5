"""Privacy mode: a record reduced to metadata, without a byte of the user's or the model's text.

What privacy mode removes (``privacy_reduce``), and why each:

- the content fields (``record.CONTENT_FIELDS``: messages, prompt, completion, reasoning, tool_calls);
- ``error_message`` and every ``provider_attempts[].error``: providers' error messages quote the input
  (moderation refusals, schema and context-length errors). ``error_type``, the attempts' provider,
  HTTP status and latency stay. A destination may keep the messages with
  ``privacy_keep_error_messages``;
- ``model_parameters`` is reduced to settings that hold no text (``reduce_parameters``): numbers and
  booleans; the enumerated settings (``reasoning_effort``, ``verbosity``, ``service_tier``,
  ``tool_choice``, ``modalities``, ``response_format``'s ``type``, ``reasoning.effort``,
  ``thinking.type``, ...) when their value is one of the known words; lists of numbers; token-id maps
  (``logit_bias``); and of each tool (``tools``, ``functions``, a named ``tool_choice``) its type and
  name, when they are identifiers. Everything else goes: tool descriptions and schemas,
  ``response_format``'s JSON schema, ``stop`` sequences, ``prediction``, ``metadata``, user locations,
  any string outside those vocabularies, and any object not listed here.

What stays (``record.METADATA_FIELDS``): ids, model and provider names, operation, status,
``error_type``, finish reasons, token counts, costs, timings, flags, ``user``, ``session_id``,
``api_key_hash``, ``api_key_name`` and the ``trace`` object (names and custom metadata), as OpenRouter
sends them in privacy mode. Use the redaction settings to drop or mask any of those too.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from ..record import CONTENT_FIELDS, Generation

__all__ = ["privacy_reduce", "reduce_parameters", "PARAMETER_WORDS"]

_CLEARED = {**dict.fromkeys(CONTENT_FIELDS), "error_message": None}
# A tool's or a type's name as the APIs allow them (OpenAI: ^[a-zA-Z0-9_-]{1,64}$); a sentence is not one.
_IDENT = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")

_EFFORT = frozenset({"none", "minimal", "low", "medium", "high", "xhigh", "max"})
#: The words an enumerated setting may hold and still go out in privacy mode, by its path in model_parameters.
PARAMETER_WORDS: dict[str, frozenset[str]] = {
    "reasoning_effort": _EFFORT,
    "verbosity": frozenset({"low", "medium", "high"}),
    "service_tier": frozenset({"auto", "default", "flex", "scale", "priority", "standard_only"}),
    "tool_choice": frozenset({"none", "auto", "required", "any"}),
    "tool_choice.type": frozenset({"function", "tool", "auto", "any", "none", "allowed_tools", "custom"}),
    "response_format": frozenset({"text", "json_object", "json_schema"}),
    "response_format.type": frozenset({"text", "json_object", "json_schema"}),
    "modalities": frozenset({"text", "audio", "image"}),
    "truncation": frozenset({"auto", "disabled"}),
    "reasoning.effort": _EFFORT,
    "reasoning.summary": frozenset({"auto", "concise", "detailed"}),
    "thinking.type": frozenset({"enabled", "disabled", "adaptive"}),
    "audio.format": frozenset({"wav", "mp3", "flac", "opus", "pcm16", "aac"}),
    "web_search_options.search_context_size": frozenset({"low", "medium", "high"}),
}
# Objects whose numbers, booleans and known words go out (their strings and nested objects do not).
_OBJECTS = frozenset({"reasoning", "thinking", "audio", "web_search_options", "stream_options", "response_format",
                      "tool_choice", "prediction"})
_NUMBER = (int, float)


def _ident(value: Any) -> bool:
    return isinstance(value, str) and _IDENT.fullmatch(value) is not None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float))


def _tool(tool: Any) -> dict[str, Any] | None:
    """A tool definition (OpenAI's, the Responses API's or Anthropic's) as its type and name only."""
    if not isinstance(tool, dict):
        return None
    out: dict[str, Any] = {}
    if _ident(tool.get("type")):
        out["type"] = tool["type"]
    function = tool.get("function")
    if isinstance(function, dict) and _ident(function.get("name")):
        out["function"] = {"name": function["name"]}
    elif _ident(tool.get("name")):
        out["name"] = tool["name"]
    return out or None


def _object(path: str, value: dict[str, Any]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not _ident(key):
            continue
        if isinstance(item, (bool, int, float)):
            out[key] = item
        elif isinstance(item, str) and item in PARAMETER_WORDS.get(f"{path}.{key}", ()):
            out[key] = item
    if path == "tool_choice":  # {"type": "function", "function": {"name": ...}} keeps the tool's name
        named = _tool(value)
        if named:
            out.update(named)
    return out or None


def _value(key: str, value: Any) -> Any:
    """The text-free part of one parameter, or None when nothing of it may go."""
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if value in PARAMETER_WORDS.get(key, ()) else None
    if isinstance(value, list):
        if key in ("tools", "functions"):
            tools = [t for t in map(_tool, value) if t]
            return tools or None
        if key == "modalities":
            words = [v for v in value if isinstance(v, str) and v in PARAMETER_WORDS["modalities"]]
            return words or None
        return value if value and all(isinstance(v, _NUMBER) for v in value) else None
    if isinstance(value, dict):
        if key == "logit_bias":  # token ids to biases: digits and numbers only
            biases = {k: v for k, v in value.items() if isinstance(k, str) and k.isdigit() and isinstance(v, _NUMBER)}
            return biases or None
        if key in _OBJECTS:
            return _object(key, value)
    return None


def reduce_parameters(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """model_parameters without anything that may hold text (see the module docstring); None when empty."""
    if not params:
        return params
    out = {}
    for key, value in params.items():
        if not _ident(key):
            continue
        if value is None:
            out[key] = None
            continue
        kept = _value(key, value)
        if kept is not None:
            out[key] = kept
    return out or None


def privacy_reduce(record: Generation, keep_error_messages: bool = False) -> Generation:
    """The record as privacy mode sends it (see the module docstring); the record itself is left as it was."""
    changes: dict[str, Any] = dict(_CLEARED)
    if keep_error_messages:
        del changes["error_message"]
    elif record.provider_attempts and any(a.error is not None for a in record.provider_attempts):
        changes["provider_attempts"] = [
            a if a.error is None else msgspec.structs.replace(a, error=None) for a in record.provider_attempts
        ]
    if record.model_parameters:
        changes["model_parameters"] = reduce_parameters(record.model_parameters)
    return msgspec.structs.replace(record, **changes)
