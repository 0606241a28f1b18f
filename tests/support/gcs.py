"""A local Google Cloud Storage emulator (the ``gcp-storage-emulator`` package) as a subprocess on a
free loopback port, in memory, and a real google-cloud-storage client pointed at it for read-back."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.dcmtk import LOOPBACK, free_port, wait_for_port
from tests.support.services import require


def require_gcs_emulator() -> None:
    for package, module in (
        ("gcp-storage-emulator", "gcp_storage_emulator"),
        ("google-cloud-storage", "google.cloud.storage"),
    ):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        require(package, found, "Python package not installed (pip install -e '.[test]')")


class GCSEmulator:
    def __init__(self, workdir: Path, *, bucket: str = "axiom-test") -> None:
        self.workdir = Path(workdir)
        self.bucket = bucket
        self.port = free_port()
        self.log_path = self.workdir / "gcs-emulator.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._client: Any = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> GCSEmulator:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "gcp_storage_emulator",
            "start",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--in-memory",
            "--default-bucket",
            self.bucket,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True
            )
        try:
            wait_for_port(LOOPBACK, self.port, timeout=30, process=self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=15)

    def client(self) -> Any:
        """A real google-cloud-storage client for this emulator (anonymous)."""
        if self._client is None:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            self._client = storage.Client(
                project="axiom-test",
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": self.url},
            )
        return self._client

    def blobs(self) -> list[Any]:
        return list(self.client().list_blobs(self.bucket))

    def __enter__(self) -> GCSEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
