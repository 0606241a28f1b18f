"""moto's S3 in server mode (``ThreadedMotoServer``) on a free loopback port: a real HTTP S3 endpoint
for the s3 destination's boto3 client, and a boto3 client of its own for reading back."""

from __future__ import annotations

import importlib.util
import uuid
from types import TracebackType
from typing import Any

from tests.support.dcmtk import LOOPBACK, free_port
from tests.support.services import require

ACCESS_KEY_ID = "axiomtest"
SECRET_ACCESS_KEY = "axiomtest-secret"
REGION = "us-east-1"


def require_moto() -> None:
    for package, module in (("moto[server]", "moto.server"), ("boto3", "boto3"), ("flask", "flask")):
        found = importlib.util.find_spec(module.split(".")[0]) is not None
        require(package, found, "Python package not installed (pip install -e '.[test]')")


class MotoS3:
    def __init__(self) -> None:
        self.port = free_port()
        self._server: Any = None
        self._client: Any = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> MotoS3:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=LOOPBACK, port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client(
                "s3",
                endpoint_url=self.url,
                aws_access_key_id=ACCESS_KEY_ID,
                aws_secret_access_key=SECRET_ACCESS_KEY,
                region_name=REGION,
            )
        return self._client

    def new_bucket(self) -> str:
        name = f"axiom-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        return [o["Key"] for o in self.client().list_objects_v2(Bucket=bucket).get("Contents", [])]

    def objects(self, bucket: str) -> dict[str, bytes]:
        client = self.client()
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}

    def __enter__(self) -> MotoS3:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
