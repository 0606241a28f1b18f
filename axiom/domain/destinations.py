"""Destination configurations: a discriminated union on ``type``, one model per destination kind."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from axiom.dicom.transcode import check_target
from axiom.domain.secrets import SecretRef

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class CircuitBreakerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Consecutive transient failures (across every worker) that open the circuit.
    failures: int = Field(default=5, ge=1)
    # While open, sends are not tried (each becomes a retry row); then one probe goes through.
    cooldown_seconds: float = Field(default=60.0, gt=0)


DEFAULT_BREAKER = CircuitBreakerConfig()


class DestinationBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    enabled: bool = True
    description: str = ""
    # Limits shared by every worker (through Redis when AXIOM_CACHE_URL is set, else per process).
    max_concurrency: int | None = Field(default=None, ge=1)
    rate_limit_per_second: float | None = Field(default=None, gt=0)
    # None: the defaults (5 failures, 60 s), left out of the stored form.
    circuit_breaker: CircuitBreakerConfig | None = None
    # None: send as received. Else a transfer syntax (UID or keyword, e.g. ExplicitVRLittleEndian,
    # RLELossless) every instance is transcoded to first.
    transfer_syntax: str | None = None
    # A re-receipt of content this destination already has (same SOP Instance UID, same content
    # hash): "skip" it (None: the default), "send" it again, or "send_if_changed": send it only when
    # what would go out differs from what went (the rules changed it in between).
    on_duplicate: Literal["skip", "send", "send_if_changed"] | None = None

    _target_writable = field_validator("transfer_syntax")(
        lambda value: None if value is None else check_target(value)
    )

    @property
    def breaker(self) -> CircuitBreakerConfig:
        return self.circuit_breaker or DEFAULT_BREAKER

    @property
    def duplicate_policy(self) -> str:
        return self.on_duplicate or "skip"


class FilesystemDestinationConfig(DestinationBase):
    type: Literal["filesystem"] = "filesystem"
    # None: <data_dir>/destinations/<name>. Relative paths are taken from the data dir.
    root: str | None = None
    # Python format fields are DICOM keywords; every component is sanitized before use.
    path_template: str = "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm"


class DicomTLS(BaseModel):
    """TLS for a C-STORE peer: its certificate must chain to ``ca_file``; ``cert_file`` and
    ``key_file`` when the peer requires a client certificate. Paths to PEM files."""

    model_config = ConfigDict(extra="forbid")

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None
    # The name the peer's certificate must carry; default: ``host``.
    server_hostname: str | None = None


class CStoreDestinationConfig(DestinationBase):
    type: Literal["cstore"] = "cstore"
    host: str
    port: int = Field(ge=1, le=65535)
    ae_title: str = Field(min_length=1, max_length=16)
    calling_ae_title: str = Field(default="AXIOM", min_length=1, max_length=16)
    timeout_seconds: float = Field(default=30.0, gt=0)
    tls: DicomTLS | None = None


class BasicAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["basic"] = "basic"
    user: str = Field(min_length=1)
    password: SecretRef


class BearerAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["bearer"] = "bearer"
    token: SecretRef


HTTPAuth = Annotated[BasicAuth | BearerAuth, Field(discriminator="type")]


class DICOMwebDeliveryBase(DestinationBase):
    """What every STOW-RS sender shares: request timeout and instances per request."""

    timeout_seconds: float = Field(default=60.0, gt=0)
    # Instances of one study sent in one STOW-RS request (1 = one request per instance).
    batch_size: int = Field(default=50, ge=1, le=1000)


class STOWRSDestinationConfig(DICOMwebDeliveryBase):
    type: Literal["stowrs"] = "stowrs"
    # The DICOMweb service root; instances are POSTed to <url>/studies.
    url: str = Field(pattern=r"^https?://[^\s]+$")
    auth: HTTPAuth | None = None


class HealthcareDestinationConfig(DICOMwebDeliveryBase):
    """A Google Cloud Healthcare API DICOM store (STOW-RS with Google credentials)."""

    type: Literal["healthcare"] = "healthcare"
    project: str = Field(min_length=1)
    location: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    dicom_store: str = Field(min_length=1)
    base_url: str = Field(default="https://healthcare.googleapis.com/v1", pattern=r"^https?://[^\s]+$")
    # A service-account key (its JSON, or the path of its file); None: application default credentials.
    credentials: SecretRef | None = None
    # An access token used as is instead of credentials (short-lived: for tests and proxies).
    token: SecretRef | None = None


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


DestinationConfig = Annotated[
    FilesystemDestinationConfig
    | CStoreDestinationConfig
    | STOWRSDestinationConfig
    | GCSDestinationConfig
    | HealthcareDestinationConfig,
    Field(discriminator="type"),
]
