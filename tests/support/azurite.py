"""Azurite, Microsoft's Azure Storage emulator (the npm package ``azurite``, installed by
scripts/test.sh under .cache/node), serving Blob only, in memory, on a free loopback port; and a
real azure-storage-blob client for reading back what a destination stored."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.dcmtk import LOOPBACK, free_port, wait_for_port
from tests.support.services import require

REPO = Path(__file__).resolve().parents[2]
AZURITE = REPO / ".cache" / "node" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account (public, documented; not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_binary() -> str | None:
    return str(AZURITE) if AZURITE.exists() else shutil.which("azurite-blob")


def require_azurite() -> None:
    require(
        "azurite", azurite_binary() is not None, "npm package not installed (scripts/test.sh installs it)"
    )
    require(
        "azure-storage-blob",
        importlib.util.find_spec("azure.storage.blob") is not None,
        "Python package not installed (pip install -e '.[test]')",
    )


class Azurite:
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.port = free_port()
        self.log_path = self.workdir / "azurite.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._service: Any = None

    @property
    def account_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.account_url};"
        )

    def start(self) -> Azurite:
        binary = azurite_binary()
        assert binary is not None
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            binary,
            "--blobHost",
            LOOPBACK,
            "--blobPort",
            str(self.port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--silent",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True
            )
        try:
            wait_for_port(LOOPBACK, self.port, timeout=60, process=self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._service is not None:
            self._service.close()
            self._service = None
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=15)

    def service(self) -> Any:
        """A real BlobServiceClient for this emulator (the development account's key)."""
        if self._service is None:
            from azure.storage.blob import BlobServiceClient

            self._service = BlobServiceClient.from_connection_string(self.connection_string)
        return self._service

    def create_container(self, name: str) -> None:
        self.service().create_container(name)

    def blobs(self, container: str) -> dict[str, bytes]:
        client = self.service().get_container_client(container)
        return {b.name: client.download_blob(b.name).readall() for b in client.list_blobs()}

    def container_sas(self, container: str) -> str:
        from datetime import UTC, datetime, timedelta

        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        return generate_container_sas(
            ACCOUNT,
            container,
            account_key=ACCOUNT_KEY,
            permission=ContainerSasPermissions(read=True, write=True, create=True, list=True),
            expiry=datetime.now(UTC) + timedelta(hours=1),
        )

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
