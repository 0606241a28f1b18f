"""A small local server speaking Vertex AI's generateContent REST API as google-genai's Vertex
backend calls it (``/v1beta1/projects/.../publishers/google/models/<model>:generateContent``).

It answers only a request bearing ``Bearer <token>`` (401 otherwise, unrecorded), records each
answered request's path and body, and replies with ``reply(body)`` as the model's text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.app_server import AppServer
from tests.support.fake_openai import free_port

TOKEN = "fake-vertex-token"


class FakeVertex(AppServer):
    name = "fake Vertex server"

    def __init__(self, reply: Callable[[dict[str, Any]], str], token: str = TOKEN) -> None:
        self.reply = reply
        self.token = token
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.port = free_port()
        app = FastAPI()

        @app.post("/v1beta1/{path:path}", response_model=None)
        async def generate(path: str, request: Request) -> dict[str, Any] | JSONResponse:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                error = {"code": 401, "message": "bad token", "status": "UNAUTHENTICATED"}
                return JSONResponse({"error": error}, status_code=401)
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
