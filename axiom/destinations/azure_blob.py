"""Azure Blob Storage destination: one block blob per instance in a container.

Blob names follow the path template of the filesystem and GCS destinations. Bodies up to
``max_single_put_mb`` go in one Put Blob, larger ones as blocks of ``block_mb``; every request carries
its Content-MD5, which the service checks on receipt (``validate_content``), and afterwards the
stored blob's size and MD5 are compared with the sent bytes'. Uploading the same instance again
replaces the same blob.

Connection, exactly one of: a connection string, an account key, a SAS token (each by secret
reference), or a managed identity (azure-identity; ``managed_identity_client_id`` for a
user-assigned one). The SDK's own retries are off: Axiom's retry queue owns backoff.
azure-storage-blob is imported here only (``pip install 'axiom-router[azure]'``).
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from axiom.config import Settings
from axiom.destinations.base import CheckOutcome
from axiom.destinations.object_store import CONTENT_TYPE, MIB, ObjectStoreConfig, ObjectStoreDestination
from axiom.destinations.stowrs import http_transient
from axiom.domain.destinations import DestinationBase
from axiom.domain.instances import OutgoingInstance
from axiom.domain.secrets import SecretRef
from axiom.secrets import SecretError, resolve_secret


class AzureBlobDestinationConfig(ObjectStoreConfig):
    """One block blob per instance in an Azure Storage container."""

    type: Literal["azure-blob"] = "azure-blob"
    # Azure's rules: 3-63 of a-z, 0-9 and single hyphens, starting and ending with a letter or digit.
    container: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    # https://<account>.blob.core.windows.net (or an emulator's http://127.0.0.1:10000/<account>);
    # not needed with a connection string, which names its endpoint.
    account_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    # With account_key: the account's name (default: the first label of account_url's host).
    account_name: str | None = Field(default=None, min_length=3, max_length=64)
    connection_string: SecretRef | None = None
    account_key: SecretRef | None = None
    sas_token: SecretRef | None = None
    managed_identity: bool = False
    # A user-assigned identity's client id; None: the system-assigned identity.
    managed_identity_client_id: str | None = None
    max_single_put_mb: int = Field(default=64, ge=1, le=5000)
    block_mb: int = Field(default=8, ge=1, le=4000)

    @model_validator(mode="after")
    def _one_way_in(self) -> AzureBlobDestinationConfig:
        given = [
            name
            for name, value in (
                ("connection_string", self.connection_string),
                ("account_key", self.account_key),
                ("sas_token", self.sas_token),
                ("managed_identity", self.managed_identity or None),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of connection_string, account_key, sas_token or managed_identity"
            )
        if given[0] != "connection_string" and self.account_url is None:
            raise ValueError(f"{given[0]} needs account_url")
        if self.managed_identity_client_id is not None and not self.managed_identity:
            raise ValueError("managed_identity_client_id goes with managed_identity: true")
        return self

    def named_account(self) -> str:
        if self.account_name:
            return self.account_name
        return (urlsplit(self.account_url or "").hostname or "").split(".")[0]


def md5_digest(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


class AzureBlobDestination(ObjectStoreDestination[AzureBlobDestinationConfig]):
    kind: ClassVar[str] = "azure-blob"
    config_model: ClassVar[type[DestinationBase]] = AzureBlobDestinationConfig
    label: ClassVar[str] = "Azure Blob"

    def __init__(self, config: AzureBlobDestinationConfig, settings: Settings) -> None:
        super().__init__(config, settings)
        self.peer = f"azure-blob:{config.container}"
        self._service: Any = None
        self._lock = threading.Lock()

    def send(self, instance: OutgoingInstance) -> str:
        name = self.object_name(instance)
        data = self.body(instance)
        try:
            container = self._container()
        except SecretError as exc:
            raise self.error(f"credentials unavailable: {exc}", instance, False, "credentials") from None
        blob = container.get_blob_client(name)
        failure = self._call(lambda: self._upload(blob, data))
        if failure is None:
            failure = self._verify(blob, data)
        if failure is not None:
            what, transient, code = failure
            raise self.error(what, instance, transient, code)
        return f"{self.peer}/{name}"

    def check(self) -> CheckOutcome:
        """Read the container's properties (or, with a SAS that may not, list one blob)."""
        failure = self._call(lambda: self._container().get_container_properties())
        if failure is not None and failure[2] == "http-403":
            failure = self._call(
                lambda: next(self._container().list_blobs(results_per_page=1).by_page(), None)
            )
        if failure is None:
            return CheckOutcome(True, f"{self.peer} is reachable with the configured credentials")
        return CheckOutcome(False, f"container {self.config.container}: {failure[0]}")

    def close(self) -> None:
        with self._lock:
            service, self._service = self._service, None
        if service is not None:
            service.close()

    # ---------------------------------------------------------------------------------------------

    def _upload(self, blob: Any, data: bytes) -> None:
        from azure.storage.blob import ContentSettings

        single = len(data) <= self.config.max_single_put_mb * MIB
        # A single Put Blob: the service computes and keeps the MD5 itself. Blocks: each block's MD5
        # is checked on receipt, and the whole blob's is set on commit for later readers.
        settings = ContentSettings(
            content_type=CONTENT_TYPE, content_md5=None if single else bytearray(md5_digest(data))
        )
        blob.upload_blob(
            data,
            overwrite=True,
            content_settings=settings,
            validate_content=True,
            max_concurrency=1,
            timeout=int(self.config.timeout_seconds),
        )

    def _verify(self, blob: Any, data: bytes) -> tuple[str, bool, str] | None:
        found: list[Any] = []
        failure = self._call(lambda: found.append(blob.get_blob_properties()))
        if failure is not None:
            return failure
        properties = found[0]
        if int(properties.size) != len(data):
            return "stored blob's size differs from the sent bytes", True, "checksum-mismatch"
        stored = properties.content_settings.content_md5
        if not stored:
            return "the service reported no MD5 for the blob", False, "checksum-missing"
        if bytes(stored) != md5_digest(data):
            return "stored blob's MD5 differs from the sent bytes'", True, "checksum-mismatch"
        return None

    @staticmethod
    def _call(request: Any) -> tuple[str, bool, str] | None:
        """Run ``request``; None when it succeeded, else (message, transient, code). Messages never
        quote the exception's text: it holds the blob's URL, whose name may come from PHI."""
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        try:
            request()
        except SecretError as exc:
            return f"credentials unavailable: {exc}", False, "credentials"
        except ClientAuthenticationError as exc:
            status = int(getattr(exc, "status_code", 0) or 0)
            return (
                f"authentication refused (HTTP {status})",
                False,
                f"http-{status}" if status else "credentials",
            )
        except HttpResponseError as exc:
            status = int(exc.status_code or 0)
            code = str(getattr(exc, "error_code", "") or status)[:64]
            return f"HTTP {status} ({code})", http_transient(status), f"http-{status}"
        except ServiceRequestError:
            return "cannot connect (refused, reset or unreachable)", True, "connect-failed"
        except ServiceResponseError:
            return "no answer (connection dropped or timed out)", True, "timeout"
        except AzureError as exc:
            return f"request failed ({type(exc).__name__})", True, "request-failed"
        return None

    def _container(self) -> Any:
        with self._lock:
            if self._service is None:
                self._service = self._make_service()
            return self._service.get_container_client(self.config.container)

    def _make_service(self) -> Any:
        try:
            from azure.storage.blob import BlobServiceClient
        except ImportError:
            raise SecretError(
                "azure-storage-blob is not installed (pip install 'axiom-router[azure]')"
            ) from None
        config = self.config
        options: dict[str, Any] = {
            "retry_total": 0,
            "max_single_put_size": config.max_single_put_mb * MIB,
            "max_block_size": config.block_mb * MIB,
            "connection_timeout": config.timeout_seconds,
            "read_timeout": config.timeout_seconds,
        }
        if config.connection_string is not None:
            text = resolve_secret(config.connection_string, self.settings)
            return BlobServiceClient.from_connection_string(text, **options)
        url = str(config.account_url)
        if config.account_key is not None:
            from azure.core.credentials import AzureNamedKeyCredential

            key = resolve_secret(config.account_key, self.settings)
            credential: Any = AzureNamedKeyCredential(config.named_account(), key)
        elif config.sas_token is not None:
            from azure.core.credentials import AzureSasCredential

            credential = AzureSasCredential(resolve_secret(config.sas_token, self.settings).lstrip("?"))
        else:
            try:
                from azure.identity import ManagedIdentityCredential
            except ImportError:
                raise SecretError(
                    "azure-identity is not installed (pip install 'axiom-router[azure]')"
                ) from None
            credential = ManagedIdentityCredential(client_id=config.managed_identity_client_id)
        return BlobServiceClient(url, credential=credential, **options)
