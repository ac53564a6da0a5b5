"""Multimodal content stripped before any destination renders: each image, audio or file becomes a placeholder.

OpenRouter strips multimodal content from what Broadcast exports, and so does spancast, for every
destination unless it sets ``keep_media``: base64 images bloat bodies (413 splits, receivers' size
limits, warehouse storage) and would export users' pictures, recordings and documents.

In ``messages`` (user turns, tool results, Anthropic ``tool_result`` blocks: any depth), a part is
media when its ``type`` is one of ``MEDIA_TYPES`` (OpenAI's ``image_url``, ``input_audio``, ``file``;
the Responses API's ``input_image``, ``input_file``, ``input_audio``; Anthropic's ``image``,
``document``; ``audio``, ``video``, ``video_url``), or when it is a Gemini ``inline_data`` /
``file_data`` part; an assistant message's ``audio`` (spoken output) is media too, and so is any
string that is a ``data:`` URI. Each becomes::

    {"type": "stripped", "kind": "image", "media_type": "image/png", "size_bytes": 48213}

``kind`` is image, audio, video or file; ``media_type`` is the MIME type when the part says it (a
data URI's, Anthropic's ``media_type``, ``input_audio``'s format) and is a plain ``type/subtype``;
``size_bytes`` is the size of the inline data (base64 decoded), absent when the part only points
somewhere (a URL, a file id; the URL goes too: signed URLs are credentials to the content) or when its
data is not base64 (LiteLLM's payloads already hold a truncation note instead). Text parts and
everything else stay as they were.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from ..codec import IMPL, implementation
from ..codec.values import plain_messages
from ..record import Generation

__all__ = ["strip_media", "plain_messages", "first_maybe_media", "MEDIA_TYPES", "placeholder"]

#: Part types that are media, and the kind each is.
MEDIA_TYPES = {
    "image_url": "image", "input_image": "image", "image": "image",
    "input_audio": "audio", "audio": "audio",
    "video_url": "video", "input_video": "video", "video": "video",
    "file": "file", "input_file": "file", "document": "file",
}
_GEMINI = ("inline_data", "inlineData", "file_data", "fileData")
_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}")
_KINDS = ("image", "audio", "video")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s_-]+")  # the standard and the URL-safe alphabets


def _first_maybe_media(records: list[Any], start: int = 0) -> int:
    """The index of the first record from start whose messages may hold media (-1: none may). The native
    twin (spancast._native.first_maybe_media, the same index for every input) is used when it is loaded:
    every destination runs this on every record with privacy off."""
    for i in range(max(start, 0), len(records)):
        record = records[i]
        if isinstance(record, Generation) and record.messages is not None and not plain_messages(record.messages):
            return i
    return -1


first_maybe_media = implementation("native").first_maybe_media if IMPL == "native" else _first_maybe_media


def _mime(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and _MIME.fullmatch(value) else None


def _b64_size(data: str, start: int = 0) -> int | None:
    """The decoded size of the base64 text data[start:] (from its length, padding counted off); None when
    it does not look like base64 (LiteLLM logs "[base64_data truncated: 10.0KB]" in its place). Only both
    ends are looked at and nothing is copied or counted: an image is megabytes, and this runs for every
    destination."""
    n = len(data) - start
    if n <= 0 or not _BASE64.fullmatch(data, start, start + 64) or not _BASE64.fullmatch(data, max(start, len(data) - 64)):
        return None
    return max(n * 3 // 4 - data.count("=", len(data) - 2), 0)


def placeholder(kind: str, media_type: str | None = None, size_bytes: int | None = None) -> dict[str, Any]:
    """The part a media part becomes."""
    out: dict[str, Any] = {"type": "stripped", "kind": kind}
    if media_type is not None:
        out["media_type"] = media_type
    if size_bytes is not None:
        out["size_bytes"] = size_bytes
    return out


def _data_uri(uri: str, kind: str | None = None) -> dict[str, Any]:
    """The placeholder of a data: URI (data:[<media type>][;base64],<data>); the data itself is not copied."""
    comma = uri.find(",", 5)
    if comma < 0:
        comma = len(uri)
    head = uri[5:comma]
    media_type = _mime(head.split(";", 1)[0])
    size = _b64_size(uri, comma + 1) if head.endswith(";base64") else len(uri[comma + 1:].encode("utf-8", "surrogatepass"))
    if kind is None:
        top = (media_type or "").partition("/")[0]
        kind = top if top in _KINDS else "file"
    return placeholder(kind, media_type, size)


def _inline(kind: str, media_type: Any, data: Any) -> dict[str, Any]:
    if isinstance(data, str) and data.startswith("data:"):
        found = _data_uri(data, kind)
        return placeholder(kind, _mime(media_type) or found.get("media_type"), found["size_bytes"])
    return placeholder(kind, _mime(media_type), _b64_size(data) if isinstance(data, str) else None)


def _part(kind: str, part: dict[str, Any]) -> dict[str, Any]:
    """The placeholder of one media part, whatever API shaped it."""
    ptype = part.get("type")
    body = part.get(ptype) if isinstance(ptype, str) else None
    if isinstance(body, str):  # {"type": "input_image", "image_url": ...} or {"type": "image_url", "image_url": "<url>"}
        body = {"url": body}
    if not isinstance(body, dict):
        body = part
    source = part.get("source")
    if isinstance(source, dict):  # Anthropic: {"type": "base64", "media_type", "data"} or {"type": "url", "url"}
        return _inline(kind, source.get("media_type"), source.get("data"))
    if ptype == "input_audio" or (kind == "audio" and "format" in body):
        fmt = body.get("format")
        return _inline(kind, f"audio/{fmt}" if isinstance(fmt, str) else None, body.get("data"))
    for key in ("file_data", "data", "url", "image_url", "file_url"):
        value = body.get(key, part.get(key))
        if isinstance(value, str):
            if value.startswith("data:"):
                return _data_uri(value, kind)
            if key in ("file_data", "data"):
                return _inline(kind, body.get("mime_type") or body.get("media_type"), value)
            return placeholder(kind, _mime(body.get("mime_type") or body.get("media_type")))
        if isinstance(value, dict) and isinstance(value.get("url"), str):
            url = value["url"]
            return _data_uri(url, kind) if url.startswith("data:") else placeholder(kind)
    return placeholder(kind, _mime(body.get("mime_type") or body.get("media_type")))


def _gemini(value: Any) -> dict[str, Any]:
    value = value if isinstance(value, dict) else {}
    media_type = _mime(value.get("mime_type") or value.get("mimeType"))
    top = (media_type or "").partition("/")[0]
    kind = top if top in _KINDS else "file"
    return _inline(kind, media_type, value.get("data")) if "data" in value else placeholder(kind, media_type)


def _walk(value: Any) -> Any:
    """value with its media replaced; the very same object when it holds none."""
    if isinstance(value, str):
        return _data_uri(value) if value.startswith("data:") else value
    if isinstance(value, list):
        items = [_walk(item) for item in value]
        return value if all(a is b for a, b in zip(items, value)) else items
    if not isinstance(value, dict):
        return value
    ptype = value.get("type")
    if isinstance(ptype, str) and ptype in MEDIA_TYPES:
        return _part(MEDIA_TYPES[ptype], value)
    for key in _GEMINI:
        if key in value:
            return _gemini(value[key])
    out = None
    for key, item in value.items():
        if key == "audio" and isinstance(item, dict) and ("data" in item or "id" in item):
            new = _inline("audio", f"audio/{item['format']}" if isinstance(item.get("format"), str) else None,
                          item.get("data")) if "data" in item else placeholder("audio")
        elif key == "content" and isinstance(item, str) and item.startswith("data:"):
            new = [_data_uri(item)]  # content stays a list of parts
        else:
            new = _walk(item)
        if new is not item:
            if out is None:
                out = dict(value)
            out[key] = new
    return value if out is None else out


def strip_media(record: Generation) -> Generation:
    """The record with every media part of its messages replaced by a placeholder; the same record when none.

    Never raises: messages nested too deep to walk (past Python's recursion limit; every encoder refuses
    far less) are dropped whole rather than sent with what they may hold."""
    messages = record.messages
    if not messages or plain_messages(messages):
        return record
    try:
        stripped = _walk(messages)
    except RecursionError:
        stripped = None
    return record if stripped is messages else msgspec.structs.replace(record, messages=stripped)
