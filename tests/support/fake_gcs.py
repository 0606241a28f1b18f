"""A small local server speaking the GCS JSON API's list and media download, for google-cloud-storage
(pointed at it with STORAGE_EMULATOR_HOST)."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI, Response

from tests.support.fake_openai import free_port


class FakeGCS:
    def __init__(self, bucket: str, objects: dict[str, bytes]) -> None:
        self.bucket = bucket
        self.objects = objects
        self.downloads: list[str] = []
        self.port = free_port()
        app = FastAPI()

        @app.get("/storage/v1/b/{bucket}/o")
        def list_objects(bucket: str, prefix: str = "") -> dict[str, Any]:
            items = [
                {
                    "kind": "storage#object",
                    "bucket": bucket,
                    "name": name,
                    "size": str(len(data)),
                    "generation": "1",
                }
                for name, data in sorted(self.objects.items())
                if name.startswith(prefix)
            ]
            return {"kind": "storage#objects", "items": items}

        @app.get("/download/storage/v1/b/{bucket}/o/{name:path}")
        def download(bucket: str, name: str) -> Response:
            self.downloads.append(name)
            return Response(self.objects[name], media_type="application/octet-stream")

        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeGCS:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake GCS server did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.should_exit = True
        self._thread.join(5)
