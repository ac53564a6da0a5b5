"""A local fake of OpenAI's chat completions API (aiohttp), for driving the real openai client offline.

A request whose model is "broken" gets OpenAI's 400 error body; one with "stream": true gets
server-sent chunks (with usage when stream_options.include_usage is set); any other a completion.
"""

from __future__ import annotations

import json

from aiohttp import web

__all__ = ["FakeOpenAI", "ANSWER"]

ANSWER = "Paris is the capital of France."
USAGE = {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28,
         "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 2}}


def _completion_id(n: int) -> str:
    return f"chatcmpl-fake{n:04d}"


class FakeOpenAI:
    """async with FakeOpenAI() as fake: fake.base_url is http://127.0.0.1:PORT/v1; fake.requests the bodies seen."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        model = body["model"]
        if model == "broken":
            return web.json_response({"error": {"message": "The model `broken` does not exist", "type":
                                                "invalid_request_error", "code": "model_not_found"}}, status=400)
        cid = _completion_id(len(self.requests))
        if not body.get("stream"):
            return web.json_response({
                "id": cid, "object": "chat.completion", "created": 1732000000, "model": f"{model}-2024-07-18",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop",
                             "logprobs": None}],
                "usage": USAGE, "system_fingerprint": "fp_fake"})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = ANSWER.split(" ")
        for k, word in enumerate(words):
            delta = {"content": (word if k == 0 else " " + word)}
            if k == 0:
                delta["role"] = "assistant"
            chunk = {"id": cid, "object": "chat.completion.chunk", "created": 1732000000, "model": f"{model}-2024-07-18",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        last = {"id": cid, "object": "chat.completion.chunk", "created": 1732000000, "model": f"{model}-2024-07-18",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await response.write(b"data: " + json.dumps(last).encode() + b"\n\n")
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = dict(last, choices=[], usage=USAGE)
            await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
