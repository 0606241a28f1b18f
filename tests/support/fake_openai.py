"""A small local server speaking the OpenAI chat completions API, for the real openai client.

It records every request body (so a test can check what would have left the site) and answers with
``reply(body) -> content`` of the test's choosing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request

from tests.support.app_server import AppServer
from tests.support.dcmtk import free_port

Reply = Callable[[dict[str, Any]], str]


class FakeOpenAI(AppServer):
    name = "fake OpenAI server"

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.raw_bodies: list[bytes] = []
        self.port = free_port()
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> dict[str, Any]:
            raw = await request.body()
            body = await request.json()
            self.raw_bodies.append(raw)
            self.requests.append(body)
            return {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": self.reply(body)},
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }

        self._serve(app)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"
