"""A real Orthanc on loopback for tests: temporary storage, free ports, REST helpers.

Orthanc listens on every interface (this version has no bind address), so tests only ever talk to
127.0.0.1; ``RemoteAccessAllowed`` false keeps its REST API to loopback callers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from tests.support.dcmtk import LOOPBACK, free_port, wait_for_port

ORTHANC_BINARY = "/usr/sbin/Orthanc"
DICOMWEB_PACKAGE = "orthanc-dicomweb"
# Orthanc's resource IDs: a SHA-1 written as five dash-separated groups of eight hex digits.
_ORTHANC_ID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{8}){4}")


def orthanc_available() -> bool:
    return os.access(ORTHANC_BINARY, os.X_OK)


@cache
def dicomweb_plugin() -> Path | None:
    """The DICOMweb plugin's shared library, as installed by the Debian package (None if absent)."""
    try:
        listing = subprocess.run(
            ["dpkg", "-L", DICOMWEB_PACKAGE], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listing.returncode != 0:
        return None
    libraries = [Path(line) for line in listing.stdout.splitlines() if ".so" in Path(line).name]
    # Prefer the plugin folder's entry over the versioned file it links to: same library.
    libraries.sort(key=lambda p: ("plugins" not in p.parts, len(str(p))))
    return next((p for p in libraries if p.is_file()), None)


class OrthancError(RuntimeError):
    pass


class Orthanc:
    """One Orthanc process. ``start()`` again after ``stop()`` restarts it on the same ports and storage.

    Use as a context manager (or call ``stop()``): the process is killed even when the test failed.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        ae_title: str = "ORTHANC",
        dicomweb: bool = True,
        config_overrides: Mapping[str, Any] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.ae_title = ae_title
        self.host = LOOPBACK
        self.dicom_port = free_port()
        self.http_port = free_port()
        while self.http_port == self.dicom_port:
            self.http_port = free_port()
        self.plugin = dicomweb_plugin() if dicomweb else None
        self.config_overrides = dict(config_overrides or {})
        self.startup_timeout = startup_timeout
        self.storage_dir = self.workdir / "storage"
        self.config_path = self.workdir / "orthanc.json"
        self.log_path = self.workdir / "orthanc.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.session = requests.Session()
        # The REST API is loopback-only; never let a proxy setting route it elsewhere.
        self.session.trust_env = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "Name": "axiom-test",
            "StorageDirectory": str(self.storage_dir),
            "IndexDirectory": str(self.storage_dir),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.ae_title,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": True,
            "UnknownSopClassAccepted": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowEcho": True,
            "SaveJobs": False,
            "StorageCompression": False,
            "HttpDescribeErrors": True,
            "Plugins": [str(self.plugin)] if self.plugin else [],
            "DicomWeb": {"Enable": bool(self.plugin), "Root": "/dicom-web/"},
        }
        config.update(self.config_overrides)
        return config

    def start(self) -> Orthanc:
        if self.process is not None and self.process.poll() is None:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.config(), indent=2))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [ORTHANC_BINARY, str(self.config_path)],
                env={**os.environ, "TCP_NODELAY": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise OrthancError(f"Orthanc exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.session.get(f"{self.url}/system", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            raise OrthancError(f"Orthanc not ready after {self.startup_timeout:.0f} s:\n{self.log_tail()}")
        wait_for_port(self.host, self.dicom_port, timeout=10, process=self.process)

    def stop(self, *, graceful: bool = False) -> None:
        """Stop the process; storage stays for a later ``start()``.

        The default is SIGKILL, like a crash: Orthanc's orderly shutdown takes ~3.5 s (its HTTP and
        DICOM servers drain on timers) and its SQLite index survives a kill. ``graceful`` sends
        SIGTERM first.
        """
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        if graceful:
            process.terminate()
            try:
                process.wait(timeout=15)
                return
            except subprocess.TimeoutExpired:
                pass
        process.kill()
        process.wait(timeout=15)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # REST helpers -------------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.url}{path}", params=params or None, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any = None) -> Any:
        data = body if isinstance(body, bytes) else json.dumps(body if body is not None else {})
        response = self.session.post(f"{self.url}{path}", data=data, timeout=60)
        response.raise_for_status()
        return response.json() if response.content else None

    def delete(self, path: str) -> None:
        self.session.delete(f"{self.url}{path}", timeout=30).raise_for_status()

    def statistics(self) -> dict[str, Any]:
        return dict(self.get("/statistics"))

    def count_instances(self) -> int:
        return int(self.statistics()["CountInstances"])

    def instance_ids(self) -> list[str]:
        return [str(i) for i in self.get("/instances")]

    def instance_tags(self, uid_or_id: str) -> dict[str, Any]:
        """An instance's tags by keyword; takes its SOP Instance UID or its Orthanc ID."""
        instance_id = uid_or_id if _ORTHANC_ID.fullmatch(uid_or_id) else self.find_instance(uid_or_id)
        if instance_id is None:
            raise OrthancError(f"no instance with SOP Instance UID {uid_or_id}")
        return dict(self.get(f"/instances/{instance_id}/simplified-tags"))

    def instance_uids(self) -> set[str]:
        """Every stored SOP Instance UID (one REST call per instance: fine for test-sized stores)."""
        return {
            str(self.get(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"]) for i in self.instance_ids()
        }

    def find_instance(self, sop_instance_uid: str) -> str | None:
        """The Orthanc ID of the instance with that UID, or None."""
        found = self.post("/tools/lookup", sop_instance_uid.encode())
        ids = [str(item["ID"]) for item in found or [] if item.get("Type") == "Instance"]
        return ids[0] if ids else None

    def instance_file(self, instance_id: str) -> bytes:
        response = self.session.get(f"{self.url}/instances/{instance_id}/file", timeout=60)
        response.raise_for_status()
        return response.content

    def transfer_syntax(self, instance_id: str) -> str:
        metadata = self.get(f"/instances/{instance_id}/metadata", expand="")
        return str(metadata["TransferSyntax"])

    def upload(self, data: bytes) -> dict[str, Any]:
        """Store a Part 10 file through REST (a quick way to pre-load Orthanc)."""
        return dict(self.post("/instances", data))

    def wait_for_instances(self, count: int, timeout: float = 30.0) -> int:
        """Poll until at least ``count`` instances are stored; return the last count seen."""
        deadline = time.monotonic() + timeout
        seen = self.count_instances()
        while seen < count and time.monotonic() < deadline:
            time.sleep(0.05)
            seen = self.count_instances()
        return seen

    def __enter__(self) -> Orthanc:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self.session.close()
