"""Multimodal content is stripped before any destination renders: images, audio and files become placeholders."""

from __future__ import annotations

import base64
import json
import os
import threading
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported: no cost-map fetch

import pytest

from conftest import full_record, load_contract
from sinkthread import SinkThread
from spancast import Broadcaster, Generation
from spancast.destinations import REGISTRY
from spancast.routing import Route, strip_media
from spancast.routing.media import plain_messages
from spancast.testing.sink import OtlpSink

PIXELS = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # 10,248 bytes
B64 = base64.b64encode(PIXELS).decode()
PNG_URI = f"data:image/png;base64,{B64}"
# Datadog and Raindrop render text parts only: media never reaches them, placeholders included.
TEXT_ONLY = {"datadog", "raindrop"}


def vision_record(i: int = 0) -> Generation:
    """An image in a user turn and another in a tool result, between text parts that must stay."""
    now = time.time_ns()
    return full_record(i, start_time_ns=now - 1_000_000, end_time_ns=now, messages=[
        {"role": "user", "content": [{"type": "text", "text": "what is on this picture?"},
                                     {"type": "image_url", "image_url": {"url": PNG_URI, "detail": "high"}}]},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "screenshot", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1",
         "content": [{"type": "text", "text": "the screen now"},
                     {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{B64}"}}]},
    ])


PNG_PART = {"type": "stripped", "kind": "image", "media_type": "image/png", "size_bytes": len(PIXELS)}
JPEG_PART = {**PNG_PART, "media_type": "image/jpeg"}


def test_images_in_a_user_turn_and_a_tool_result_become_placeholders_and_text_stays():
    record = vision_record()
    before = json.dumps(record.messages)
    stripped = strip_media(record).messages
    assert stripped[0]["content"] == [{"type": "text", "text": "what is on this picture?"}, PNG_PART]
    assert stripped[2]["content"] == [{"type": "text", "text": "the screen now"}, JPEG_PART]
    assert stripped[1] is record.messages[1]  # untouched messages are the same objects
    assert json.dumps(record.messages) == before  # the record given is never changed: other destinations share it


@pytest.mark.parametrize("part, expected", [
    ({"type": "image_url", "image_url": {"url": "https://cdn.example/cat.png?sig=SECRET"}}, {"kind": "image"}),
    ({"type": "image_url", "image_url": "data:image/webp;base64,AAAA"},
     {"kind": "image", "media_type": "image/webp", "size_bytes": 3}),
    ({"type": "input_audio", "input_audio": {"data": base64.b64encode(b"x" * 100).decode(), "format": "wav"}},
     {"kind": "audio", "media_type": "audio/wav", "size_bytes": 100}),
    ({"type": "file", "file": {"filename": "contract.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
     {"kind": "file", "media_type": "application/pdf", "size_bytes": 6}),
    ({"type": "file", "file": {"file_id": "file-abc"}}, {"kind": "file"}),
    ({"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lGODlh"}},
     {"kind": "image", "media_type": "image/gif", "size_bytes": 6}),
    ({"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}, {"kind": "file"}),
    ({"type": "input_image", "image_url": PNG_URI}, {"kind": "image", "media_type": "image/png", "size_bytes": len(PIXELS)}),
    ({"type": "input_file", "file_data": "data:text/csv;base64,YSxiCg=="}, {"kind": "file", "media_type": "text/csv", "size_bytes": 4}),
    ({"inline_data": {"mime_type": "video/mp4", "data": "AAAAAAAA"}}, {"kind": "video", "media_type": "video/mp4", "size_bytes": 6}),
    ({"type": "image_url", "image_url": {"url": "data:not a type;base64,AAAA"}}, {"kind": "image", "size_bytes": 3}),
], ids=["url", "string-data-uri", "input-audio", "file-data", "file-id", "anthropic-image", "anthropic-document",
        "responses-input-image", "responses-input-file", "gemini-inline", "bad-media-type"])
def test_every_api_shape_of_media_becomes_a_typed_placeholder(part, expected):
    record = full_record(messages=[{"role": "user", "content": [{"type": "text", "text": "look"}, part]}])
    (text, placeholder) = strip_media(record).messages[0]["content"]
    assert text == {"type": "text", "text": "look"} and placeholder == {"type": "stripped", **expected}
    assert "SECRET" not in json.dumps(placeholder)  # a signed URL is a credential to the content


def test_nested_tool_results_spoken_output_and_bare_data_uris_are_stripped():
    record = full_record(messages=[
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": "chart:"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": B64}}]}]},
        {"role": "assistant", "content": "here", "audio": {"id": "audio_1", "data": "AAAA", "format": "mp3"}},
        {"role": "user", "content": PNG_URI},
    ])
    first, second, third = strip_media(record).messages
    assert first["content"][0]["content"] == [{"type": "text", "text": "chart:"}, PNG_PART]
    assert second == {"role": "assistant", "content": "here",
                      "audio": {"type": "stripped", "kind": "audio", "media_type": "audio/mp3", "size_bytes": 3}}
    assert third == {"role": "user", "content": [PNG_PART]}


def test_records_without_media_come_back_as_they_are():
    record = full_record()  # string contents only
    assert plain_messages(record.messages) and strip_media(record) is record
    text_parts = full_record(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    assert not plain_messages(text_parts.messages) and strip_media(text_parts) is text_parts
    records = [full_record(i) for i in range(3)]
    selected, _, _ = Route("d").select(records)
    assert selected is records  # the media-only route's fast path: the very list


def test_the_route_strips_by_default_and_keep_media_keeps():
    records = [full_record(0), vision_record(1)]
    selected, _, _ = Route("d").select(records)
    assert selected[0] is records[0] and B64 not in json.dumps(selected[1].messages)
    kept, _, _ = Route("d", keep_media=True).select(records)
    assert kept is records
    private, _, _ = Route("d", keep_media=True, sampling_rate=1, redact_fields=["user"]).select(records)
    assert B64 in json.dumps(private[1].messages) and private[1].user is None


def destination_config(kind: str, **extra) -> dict:
    if kind == "file":
        return {"type": "file", "directory": "/nonexistent/spancast-media", **extra}
    if kind == "redis":
        return {"type": "redis", "url": "redis://127.0.0.1:9/0", **extra}
    return load_contract(kind).config("https://backend.example", **extra)


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_every_destination_type_gets_placeholders_and_keep_media_gets_the_bytes(kind):
    record = vision_record()
    b = Broadcaster([destination_config(kind)])
    name = b.destinations[0].name
    shown = json.dumps(b.preview(record, name)["body"])
    assert B64[:64] not in shown and B64[-64:] not in shown
    assert "what is on this picture?" in shown  # text parts stay
    if kind not in TEXT_ONLY:
        assert '\\"kind\\":\\"image\\"' in shown or '"kind": "image"' in shown
        assert str(len(PIXELS)) in shown
    kept = json.dumps(Broadcaster([destination_config(kind, keep_media=True)]).preview(record, name)["body"])
    assert (B64[:64] in kept) is (kind not in TEXT_ONLY)


def test_the_pipeline_sends_placeholders_to_a_real_receiver():
    with SinkThread(OtlpSink()) as sink:
        with Broadcaster([{"type": "otel-collector", "endpoint": sink.url, "compression": "gzip"},
                          {"type": "otel-collector", "name": "archive", "endpoint": sink.url, "keepMedia": True}]) as b:
            b.emit(vision_record())
            assert b.flush(10)
    bodies = {r.encoding: r.body for r in sink.received}
    assert B64.encode() not in bodies["gzip"] and b'"size_bytes":10248' in bodies["gzip"]
    assert B64.encode() in bodies[None]  # the destination that keeps media got the image


def test_records_built_from_openai_and_litellm_keep_their_parts_for_stripping():
    import litellm
    from openai.types.chat import ChatCompletion

    messages = vision_record().messages
    response = ChatCompletion.model_validate({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "a cat"}}]})
    built = Generation.from_openai({"model": "gpt-4o", "messages": messages}, response, 1, 2)
    assert (built.messages[0], built.messages[2]) == (messages[0], messages[2])
    assert B64 not in json.dumps(strip_media(built).messages)

    from spancast.integrations.litellm import SpancastLogger

    got: list[Generation] = []
    arrived = threading.Condition()

    def emit(record: Generation) -> None:  # called from LiteLLM's callback threads
        with arrived:
            got.append(record)
            arrived.notify_all()

    logger = SpancastLogger(emit)
    litellm.callbacks.append(logger)
    try:
        litellm.completion(model="gpt-4o-mini", messages=messages, mock_response="a cat")
        with arrived:
            assert arrived.wait_for(lambda: got, 20.0)
    finally:
        litellm.logging_callback_manager.remove_callback_from_all_lists(logger)
    (record,) = got
    # The builder keeps the parts (LiteLLM's payload has already cut the base64 to a note) ...
    assert record.messages[0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    stripped = strip_media(record).messages
    assert stripped[0]["content"][1] == {"type": "stripped", "kind": "image", "media_type": "image/png"}
    assert "the screen now" in json.dumps(stripped)  # ... so routing replaces them, and the text stays


@pytest.mark.parametrize("impl", ["native", "python"])
def test_the_batcher_strips_what_the_encoder_finds_as_it_goes_and_sends_what_the_route_would(impl):
    # A route that only strips media leaves the check to the encoder (lane.pump): the batches must hold and
    # send exactly what Route.select would have made, across batch boundaries, and the list given stays.
    from spancast.codec import implementation
    from spancast.pipeline.batcher import Batcher, BatchSettings

    text_parts = full_record(9, messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    records = [full_record(0), vision_record(1), full_record(2), text_parts, vision_record(4), vision_record(5)]
    given = list(records)
    routed, _, _ = Route("d").select(records)
    for size in (1, 2, 4, 512):
        settings = BatchSettings(max_batch_records=size)
        ours = Batcher(implementation(impl).TraceEncoder(), settings)
        closed, invalid = ours.add_many(records, None, strip_media)
        closed += [ours.flush()] if ours.records else []
        reference = Batcher(implementation(impl).TraceEncoder(), settings)
        expected, _ = reference.add_many(routed)
        expected += [reference.flush()] if reference.records else []
        assert invalid == [] and records == given
        assert [bytes(b.body) for b in closed] == [bytes(b.body) for b in expected]
        items = [r for b in closed for r in b.items]
        assert items == routed and items[0] is records[0] and items[3] is text_parts
        assert all(B64 not in json.dumps(r.messages) for r in items)
