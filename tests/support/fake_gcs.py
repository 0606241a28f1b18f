"""A small local server speaking the GCS JSON API's list and media download, for google-cloud-storage
(pointed at it with STORAGE_EMULATOR_HOST)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response

from tests.support.app_server import AppServer
from tests.support.fake_openai import free_port


class FakeGCS(AppServer):
    name = "fake GCS server"

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

        self._serve(app)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"
