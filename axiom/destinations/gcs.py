"""Google Cloud Storage destination: one object per instance, named by a template from its tags.

The object name follows the filesystem destination's path template rules (``axiom/dicom/paths.py``:
DICOM keywords as fields, every value sanitized), so one template works for both. The body is the
received Part 10 file when unchanged, else a fresh encoding, stored as ``application/dicom``.
Its MD5 and CRC32C travel with the upload (Cloud Storage refuses a body that does not match them) and
the digests the service reports for the stored object are compared with the local ones afterwards.
Uploading the same instance again replaces the same object, so redelivery leaves one copy.

Credentials: a service-account key by secret reference, else Application Default Credentials; with
an ``endpoint`` (or ``STORAGE_EMULATOR_HOST``) and no key, anonymous, as emulators expect.
google-cloud-storage is imported here only (``pip install 'axiom-router[gcs]'``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from typing import Any, ClassVar, Literal

import requests
from pydantic import Field

from axiom.config import Settings
from axiom.destinations.base import DeliveryError, Destination
from axiom.destinations.google_credentials import google_credentials
from axiom.destinations.stowrs import http_transient
from axiom.dicom.part10 import part10_bytes
from axiom.dicom.paths import PathTemplate, UnsafePathError
from axiom.domain.destinations import DestinationBase
from axiom.domain.instances import OutgoingInstance
from axiom.domain.secrets import SecretRef
from axiom.secrets import SecretError

SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)
CONTENT_TYPE = "application/dicom"
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


class GCSDestinationConfig(DestinationBase):
    """One object per instance in a Google Cloud Storage bucket."""

    type: Literal["gcs"] = "gcs"
    bucket: str = Field(min_length=3, max_length=222)
    # Same rules as the filesystem path template: DICOM keywords, every value sanitized.
    object_template: str = "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm"
    project: str | None = None
    # A service-account key (its JSON, or the path of its file); None: application default
    # credentials, or anonymous when an endpoint (or STORAGE_EMULATOR_HOST) names an emulator.
    credentials: SecretRef | None = None
    # Another API endpoint than Google's, such as a local emulator (http://127.0.0.1:9023).
    endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    timeout_seconds: float = Field(default=60.0, gt=0)


def md5_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def crc32c_base64(data: bytes) -> str:
    import google_crc32c

    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def digest_problem(
    reported_md5: str | None, reported_crc32c: str | None, *, md5: str, crc32c: str
) -> tuple[str, bool, str] | None:
    """None when the digests the service reports for the stored object match the sent bytes'.

    Every reported digest must match and at least one must be reported (Cloud Storage reports no MD5
    for composite objects, but always a CRC32C). A mismatch is transient: upload again.
    """
    if not reported_md5 and not reported_crc32c:
        return "the service reported no digest for the object", False, "checksum-missing"
    if (reported_md5 and reported_md5 != md5) or (reported_crc32c and reported_crc32c != crc32c):
        return "stored object's digest differs from the sent bytes", True, "checksum-mismatch"
    return None


class GCSDestination(Destination[GCSDestinationConfig]):
    kind: ClassVar[str] = "gcs"
    config_model: ClassVar[type[DestinationBase]] = GCSDestinationConfig

    def __init__(self, config: GCSDestinationConfig, settings: Settings) -> None:
        super().__init__(config, settings)
        # Parsed now so a bad template fails at start-up, not on the first instance.
        self.template = PathTemplate.parse(config.object_template)
        self.peer = f"gs://{config.bucket}"
        self._client: Any = None
        self._lock = threading.Lock()

    def object_name(self, instance: OutgoingInstance) -> str:
        try:
            return str(self.template.render(instance.dataset))
        except UnsafePathError:
            raise self._error("object name is not a plain path", instance, False, "unsafe-name") from None

    def send(self, instance: OutgoingInstance) -> str:
        name = self.object_name(instance)
        try:
            data = part10_bytes(instance)
        except OSError as exc:
            raise self._error(
                f"cannot read the instance ({type(exc).__name__})", instance, True, "read-failed"
            ) from None
        except Exception as exc:
            # pydicom's messages can quote element values: report the kind of failure only.
            raise self._error(
                f"cannot encode ({type(exc).__name__})", instance, False, "unencodable"
            ) from None
        try:
            bucket = self._bucket()
        except SecretError as exc:
            raise self._error(f"credentials unavailable: {exc}", instance, False, "credentials") from None
        md5, crc32c = md5_base64(data), crc32c_base64(data)
        blob = bucket.blob(name)
        # Sent with the upload: the service checks the body against them.
        blob.md5_hash, blob.crc32c = md5, crc32c
        failure = self._upload(blob, data)
        if failure is not None:
            what, transient, code = failure
            raise self._error(what, instance, transient, code)
        problem = digest_problem(blob.md5_hash, blob.crc32c, md5=md5, crc32c=crc32c)
        if problem is not None:
            what, transient, code = problem
            raise self._error(what, instance, transient, code)
        return f"{self.peer}/{name}"

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _upload(self, blob: Any, data: bytes) -> tuple[str, bool, str] | None:
        """None when stored; else (message, transient, code). Messages never quote the exception's
        text: it can hold the object name, which the template may build from PHI."""
        from google.api_core import exceptions as api_exceptions
        from google.auth import exceptions as auth_exceptions
        from google.resumable_media import DataCorruption

        try:
            blob.upload_from_string(
                data, content_type=CONTENT_TYPE, timeout=self.config.timeout_seconds, retry=None
            )
        except api_exceptions.GoogleAPICallError as exc:
            status = int(exc.code or 0)
            return f"HTTP {status}", http_transient(status), f"http-{status}"
        except DataCorruption:
            return "upload corrupted in transit", True, "checksum-mismatch"
        except requests.Timeout:
            return "request timed out", True, "timeout"
        except requests.ConnectionError:
            return "cannot connect (refused, reset or unreachable)", True, "connect-failed"
        except requests.RequestException:
            return "request failed", True, "request-failed"
        except auth_exceptions.TransportError:
            return "cannot reach the token endpoint", True, "token-unreachable"
        except auth_exceptions.RefreshError as exc:
            return (
                "access token refused by the token endpoint",
                bool(getattr(exc, "retryable", False)),
                "token-refused",
            )
        except auth_exceptions.GoogleAuthError as exc:
            return f"Google credentials failed ({type(exc).__name__})", False, "credentials"
        return None

    def _bucket(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client.bucket(self.config.bucket)

    def _make_client(self) -> Any:
        try:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage
        except ImportError:
            raise SecretError(
                "google-cloud-storage is not installed (pip install 'axiom-router[gcs]')"
            ) from None
        config = self.config
        options = {"api_endpoint": config.endpoint} if config.endpoint else None
        if config.credentials is None and (config.endpoint or os.environ.get(EMULATOR_ENV)):
            credentials: Any = AnonymousCredentials()
            project: str | None = config.project or "axiom"
        else:
            credentials = google_credentials(config.credentials, self.settings, SCOPES, "gcs")
            project = config.project
        return storage.Client(project=project, credentials=credentials, client_options=options)

    def _error(self, what: str, instance: OutgoingInstance, transient: bool, code: str) -> DeliveryError:
        return DeliveryError(
            f"GCS destination {self.name} ({self.peer}): {what} (SOP Instance UID {instance.sop_instance_uid})",
            transient=transient,
            code=code,
        )
