"""A small local server speaking Vertex AI's generateContent REST API, for the real vertexai SDK."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI, Request

from tests.support.fake_openai import free_port


class FakeVertex:
    def __init__(self, reply: Callable[[dict[str, Any]], str]) -> None:
        self.reply = reply
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.port = free_port()
        app = FastAPI()

        @app.post("/v1/{path:path}")
        async def generate(path: str, request: Request) -> dict[str, Any]:
            body = await request.json()
            self.requests.append((path, body))
            return {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": self.reply(body)}]},
                        "finishReason": "STOP",
                    }
                ],
                "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
            }

        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeVertex:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake Vertex server did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.should_exit = True
        self._thread.join(5)
