"""Amazon S3 destination, and any S3-compatible store (MinIO, Ceph RGW...) through ``endpoint_url``.

One object per instance, named by the path template of the filesystem and GCS destinations. Bodies
up to ``multipart_threshold_mb`` go in one PUT, larger ones as a multipart upload of
``multipart_chunk_mb`` parts (boto3's TransferConfig). Every request carries a SHA-256 checksum the
service verifies on receipt (``ChecksumAlgorithm``); afterwards the checksum the service reports for
the stored object (the whole object's, or the checksum of the parts' checksums, ``-N``) is compared
with the local one, falling back to the ETag (the MD5 of a plain upload, or of the parts' MD5s) for
stores that report no checksum. Server-side encryption: ``AES256``, or ``aws:kms`` with a key id.

Credentials: an access key pair (and session token) by secret reference, else boto3's default chain
(environment, shared files, instance or task role). boto3's own retries are off: Axiom's retry queue
owns backoff. boto3 is imported here only (``pip install 'axiom-router[s3]'``).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from io import BytesIO
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from axiom.config import Settings
from axiom.destinations.base import CheckOutcome
from axiom.destinations.object_store import CONTENT_TYPE, MIB, ObjectStoreConfig, ObjectStoreDestination
from axiom.destinations.stowrs import http_transient
from axiom.domain.destinations import DestinationBase
from axiom.domain.instances import OutgoingInstance
from axiom.domain.secrets import SecretRef
from axiom.secrets import SecretError, resolve_secret

# S3 error codes worth retrying whatever their HTTP status.
TRANSIENT_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"}
)


class S3DestinationConfig(ObjectStoreConfig):
    """One object per instance in an S3 bucket."""

    type: Literal["s3"] = "s3"
    bucket: str = Field(min_length=3, max_length=63)
    region: str | None = None
    # Another endpoint than AWS's: MinIO, Ceph RGW, a local test server (http://127.0.0.1:9000).
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    # "path" for most S3-compatible stores; "auto" lets boto3 choose (virtual-hosted on AWS).
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    verify_tls: bool = True
    # Both or neither; neither: boto3's default chain (environment, shared files, instance role).
    access_key_id: SecretRef | None = None
    secret_access_key: SecretRef | None = None
    session_token: SecretRef | None = None
    # Server-side encryption: None (the bucket's default), "AES256" (SSE-S3) or "aws:kms" (SSE-KMS).
    server_side_encryption: Literal["AES256", "aws:kms"] | None = None
    # The KMS key (id, ARN or alias) for "aws:kms"; None: the account's AWS-managed key.
    kms_key_id: str | None = Field(default=None, min_length=1)
    # Bodies from this size go as multipart uploads, in parts of multipart_chunk_mb (S3's minimum: 5).
    multipart_threshold_mb: int = Field(default=64, ge=5, le=5 * 1024)
    multipart_chunk_mb: int = Field(default=16, ge=5, le=5 * 1024)

    @model_validator(mode="after")
    def _consistent(self) -> S3DestinationConfig:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        if self.session_token is not None and self.access_key_id is None:
            raise ValueError("session_token goes with access_key_id and secret_access_key")
        if self.kms_key_id is not None and self.server_side_encryption != "aws:kms":
            raise ValueError('kms_key_id needs server_side_encryption: "aws:kms"')
        return self


def sha256_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _parts(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def expected_checksum(data: bytes, part_size: int | None) -> str:
    """The SHA-256 S3 reports for ``data``: its own, or for ``part_size`` parts the SHA-256 of the
    parts' SHA-256 digests followed by ``-<number of parts>``."""
    if part_size is None:
        return sha256_base64(data)
    parts = _parts(data, part_size)
    combined = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    return f"{base64.b64encode(combined).decode()}-{len(parts)}"


def expected_etag(data: bytes, part_size: int | None) -> str:
    """The ETag of an unencrypted (or SSE-S3) upload: the MD5, or the MD5 of the parts' MD5s + ``-N``."""
    if part_size is None:
        return hashlib.md5(data, usedforsecurity=False).hexdigest()
    parts = _parts(data, part_size)
    digests = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    return f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(parts)}"


class S3Destination(ObjectStoreDestination[S3DestinationConfig]):
    kind: ClassVar[str] = "s3"
    config_model: ClassVar[type[DestinationBase]] = S3DestinationConfig
    label: ClassVar[str] = "S3"

    def __init__(self, config: S3DestinationConfig, settings: Settings) -> None:
        super().__init__(config, settings)
        self.peer = f"s3://{config.bucket}"
        self._client: Any = None
        self._lock = threading.Lock()

    def send(self, instance: OutgoingInstance) -> str:
        key = self.object_name(instance)
        data = self.body(instance)
        try:
            client = self._get_client()
        except SecretError as exc:
            raise self.error(f"credentials unavailable: {exc}", instance, False, "credentials") from None
        config = self.config
        multipart = len(data) >= config.multipart_threshold_mb * MIB
        part_size = config.multipart_chunk_mb * MIB if multipart else None
        failure = self._upload(client, key, data)
        if failure is None:
            failure = self._verify(client, key, data, part_size)
        if failure is not None:
            what, transient, code = failure
            raise self.error(what, instance, transient, code)
        return f"{self.peer}/{key}"

    def check(self) -> CheckOutcome:
        """HEAD the bucket with the configured credentials."""
        failure = self._call(lambda: self._get_client().head_bucket(Bucket=self.config.bucket))
        if failure is None:
            return CheckOutcome(True, f"{self.peer} is reachable with the configured credentials")
        return CheckOutcome(False, f"HEAD {self.peer}: {failure[0]}")

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # ---------------------------------------------------------------------------------------------

    def _upload(self, client: Any, key: str, data: bytes) -> tuple[str, bool, str] | None:
        from boto3.s3.transfer import TransferConfig

        config = self.config
        extra: dict[str, Any] = {"ContentType": CONTENT_TYPE, "ChecksumAlgorithm": "SHA256"}
        if config.server_side_encryption is not None:
            extra["ServerSideEncryption"] = config.server_side_encryption
        if config.kms_key_id is not None:
            extra["SSEKMSKeyId"] = config.kms_key_id
        transfer = TransferConfig(
            multipart_threshold=config.multipart_threshold_mb * MIB,
            multipart_chunksize=config.multipart_chunk_mb * MIB,
            use_threads=False,
        )
        return self._call(
            lambda: client.upload_fileobj(BytesIO(data), config.bucket, key, ExtraArgs=extra, Config=transfer)
        )

    def _verify(
        self, client: Any, key: str, data: bytes, part_size: int | None
    ) -> tuple[str, bool, str] | None:
        """None when the stored object's reported checksum (or ETag) matches the sent bytes'."""
        head: dict[str, Any] = {}
        failure = self._call(
            lambda: head.update(
                client.head_object(Bucket=self.config.bucket, Key=key, ChecksumMode="ENABLED")
            )
        )
        if failure is not None:
            return failure
        if int(head.get("ContentLength", -1)) != len(data):
            return "stored object's size differs from the sent bytes", True, "checksum-mismatch"
        reported = head.get("ChecksumSHA256")
        if reported:
            if reported.split("-")[0] != expected_checksum(data, part_size).split("-")[0]:
                return "stored object's SHA-256 differs from the sent bytes'", True, "checksum-mismatch"
            return None
        etag = str(head.get("ETag", "")).strip('"')
        if head.get("ServerSideEncryption") == "aws:kms" or not etag:
            # An SSE-KMS ETag is no MD5: nothing left to compare.
            return "the store reported no checksum for the object", False, "checksum-missing"
        if etag != expected_etag(data, part_size):
            return "stored object's ETag differs from the sent bytes' MD5", True, "checksum-mismatch"
        return None

    @staticmethod
    def _call(request: Any) -> tuple[str, bool, str] | None:
        """Run ``request``; None when it succeeded, else (message, transient, code). Messages never
        quote the exception's text: it holds the bucket's URL and the object key."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
        )
        from botocore.exceptions import ReadTimeoutError as BotoReadTimeout

        try:
            request()
        except ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            code = str(exc.response.get("Error", {}).get("Code") or status)
            transient = http_transient(status) or code in TRANSIENT_CODES
            return f"HTTP {status} ({code[:64]})", transient, f"http-{status}"
        except SecretError as exc:
            return f"credentials unavailable: {exc}", False, "credentials"
        except (NoCredentialsError, PartialCredentialsError):
            return "no usable AWS credentials", False, "credentials"
        except BotoReadTimeout:
            return "request timed out", True, "timeout"
        except (EndpointConnectionError, ConnectionError):
            return "cannot connect (refused, reset or unreachable)", True, "connect-failed"
        except S3UploadFailedError:
            return "upload failed", True, "upload-failed"
        except BotoCoreError as exc:
            return f"request failed ({type(exc).__name__})", True, "request-failed"
        return None

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise SecretError("boto3 is not installed (pip install 'axiom-router[s3]')") from None
        config = self.config

        def secret(ref: SecretRef | None) -> str | None:
            return None if ref is None else resolve_secret(ref, self.settings)

        session = boto3.session.Session(
            aws_access_key_id=secret(config.access_key_id),
            aws_secret_access_key=secret(config.secret_access_key),
            aws_session_token=secret(config.session_token),
            region_name=config.region,
        )
        client_config = Config(
            connect_timeout=config.timeout_seconds,
            read_timeout=config.timeout_seconds,
            retries={"max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": config.addressing_style},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return session.client(
            "s3", endpoint_url=config.endpoint_url, verify=config.verify_tls, config=client_config
        )
