"""A small local server speaking Vertex AI's generateContent REST API, for the real vertexai SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request

from tests.support.app_server import AppServer
from tests.support.fake_openai import free_port


class FakeVertex(AppServer):
    name = "fake Vertex server"

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

        self._serve(app)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"
