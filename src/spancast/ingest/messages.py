"""Chat messages as conventions put them on spans, turned into the record's shapes (OpenAI chat messages).

- GenAI conventions (v1.37+): ``gen_ai.input.messages`` / ``gen_ai.output.messages``, each message
  ``{"role", "parts": [{"type": "text", "content"}, {"type": "tool_call", "id", "name", "arguments"},
  {"type": "tool_call_response", "id", "response"}, {"type": "reasoning", "content"}, ...]}``;
  ``gen_ai.system_instructions`` a list of parts.
- Flattened, indexed keys (OpenInference ``llm.input_messages.N.message.role``, Traceloop and the old
  GenAI ``gen_ai.prompt.N.role``): grouped back by index.

Parts spancast has no field for (blobs, files, uris) become a placeholder text, as the record's
multimodal parts are stripped before export anyway.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["from_parts", "output_from_parts", "indexed", "from_indexed", "tool_call"]


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """An OpenAI-shaped tool call; arguments as the JSON text OpenAI sends."""
    if arguments is not None and not isinstance(arguments, str):
        arguments = orjson.dumps(arguments).decode()
    call: dict[str, Any] = {"type": "function", "function": {"name": name if isinstance(name, str) else ""}}
    if call_id is not None:
        call["id"] = call_id
    if arguments is not None:
        call["function"]["arguments"] = arguments
    return call


def _text_of(part: dict[str, Any]) -> str | None:
    kind = part.get("type")
    if kind == "text":
        content = part.get("content")
        return content if isinstance(content, str) else None
    if kind in ("blob", "file", "uri"):
        return f"[{part.get('modality') or kind}]"
    return None


def from_parts(messages: Any) -> list[dict[str, Any]]:
    """gen_ai.input.messages (a list of {role, parts}) as OpenAI chat messages."""
    out: list[dict[str, Any]] = []
    if not isinstance(messages, list):
        return out
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        parts = message.get("parts")
        if not isinstance(parts, list):  # already OpenAI-shaped
            out.append(message)
            continue
        texts, calls, responses = [], [], []
        for part in parts:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "tool_call":
                calls.append(tool_call(part.get("id"), part.get("name"), part.get("arguments")))
            elif part.get("type") == "tool_call_response":
                responses.append(part)
            else:
                text = _text_of(part)
                if text is not None:
                    texts.append(text)
        for response in responses:  # one OpenAI tool message per response
            content = response.get("response")
            out.append({"role": "tool", "tool_call_id": response.get("id"),
                        "content": content if isinstance(content, str) else orjson.dumps(content).decode()})
        if texts or calls or not responses:
            msg: dict[str, Any] = {"role": role if isinstance(role, str) else "user", "content": "".join(texts)}
            if calls:
                msg["tool_calls"] = calls
            if isinstance(message.get("name"), str):
                msg["name"] = message["name"]
            out.append(msg)
    return out


def output_from_parts(messages: Any) -> tuple[str | None, str | None, list[dict[str, Any]] | None, str | None]:
    """(completion, reasoning, tool_calls, finish_reason) of the first output message (choice 0)."""
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        return None, None, None, None
    first = messages[0]
    texts, thoughts, calls = [], [], []
    for part in first.get("parts") or ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "tool_call":
            calls.append(tool_call(part.get("id"), part.get("name"), part.get("arguments")))
        elif part.get("type") == "reasoning" and isinstance(part.get("content"), str):
            thoughts.append(part["content"])
        else:
            text = _text_of(part)
            if text is not None:
                texts.append(text)
    finish = first.get("finish_reason")
    return ("".join(texts) if texts or not calls else None, "".join(thoughts) or None, calls or None,
            finish if isinstance(finish, str) else None)


def indexed(flat: dict[str, Any]) -> list[dict[str, Any]]:
    """{"0.role": ..., "0.content": ..., "1.role": ...} as [{"role", "content"}, ...], in index order;
    nested keys stay dotted in each entry ({"tool_calls.0.name": ...})."""
    groups: dict[int, dict[str, Any]] = {}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        if head.isdigit() and rest:
            groups.setdefault(int(head), {})[rest] = value
    return [groups[i] for i in sorted(groups)]


def from_indexed(entries: list[dict[str, Any]], prefix: str = "") -> list[dict[str, Any]]:
    """Entries of indexed() with keys under prefix (OpenInference: "message.") as OpenAI chat messages."""
    out = []
    for entry in entries:
        fields = {k[len(prefix):]: v for k, v in entry.items() if k.startswith(prefix)}
        msg: dict[str, Any] = {"role": fields.get("role") if isinstance(fields.get("role"), str) else "user"}
        content = fields.get("content")
        if content is None and any(k.startswith("contents.") for k in fields):  # OpenInference content parts
            parts = indexed({k[len("contents."):]: v for k, v in fields.items() if k.startswith("contents.")})
            content = "".join(p.get("message_content.text", "") for p in parts
                              if isinstance(p.get("message_content.text"), str))
        msg["content"] = content if isinstance(content, str) or content is None else orjson.dumps(content).decode()
        for key in ("name", "tool_call_id"):
            if isinstance(fields.get(key), str):
                msg[key] = fields[key]
        calls = indexed({k[len("tool_calls."):]: v for k, v in fields.items() if k.startswith("tool_calls.")})
        if calls:
            msg["tool_calls"] = [
                tool_call(c.get("tool_call.id", c.get("id")), c.get("tool_call.function.name", c.get("name")),
                          c.get("tool_call.function.arguments", c.get("arguments")))
                for c in calls
            ]
        out.append(msg)
    return out
