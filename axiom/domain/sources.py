"""Source configurations: the peers Beat polls. A discriminated union on ``type``, one model per kind.

Every source has a schedule (every N seconds/minutes, or a cron expression), a query filter and
limits; the kind adds its connection settings. Passwords and tokens are never stored: a field ending
in ``_env`` names the environment variable that holds them on the workers.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from axiom.domain.destinations import NAME_PATTERN

# Five crontab fields (minute hour day-of-month month day-of-week); numbers, names, * , - and /.
_CRON_FIELD = re.compile(r"^[A-Za-z0-9*,/-]+$")
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SourceSchedule(BaseModel):
    """Exactly one of ``every_seconds``, ``every_minutes`` or ``cron``."""

    model_config = ConfigDict(extra="forbid")

    every_seconds: float | None = Field(default=None, gt=0)
    every_minutes: float | None = Field(default=None, gt=0)
    # "minute hour day-of-month month day-of-week", e.g. "*/10 * * * *" (UTC).
    cron: str | None = None

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str | None) -> str | None:
        if value is None:
            return value
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(part) for part in fields):
            raise ValueError("a cron expression has five fields: minute hour day-of-month month day-of-week")
        return " ".join(fields)

    @model_validator(mode="after")
    def _exactly_one(self) -> SourceSchedule:
        given = [v for v in (self.every_seconds, self.every_minutes, self.cron) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of every_seconds, every_minutes or cron")
        return self

    @property
    def interval_seconds(self) -> float | None:
        """The period of an interval schedule; None for a cron schedule."""
        if self.every_seconds is not None:
            return self.every_seconds
        if self.every_minutes is not None:
            return self.every_minutes * 60
        return None


class SourceQuery(BaseModel):
    """Which studies a poll asks the peer for."""

    model_config = ConfigDict(extra="forbid")

    # Studies with any of these modalities (ModalitiesInStudy); empty: every modality.
    modalities: list[Annotated[str, Field(pattern=r"^[A-Z0-9]{1,16}$")]] = []
    # Studies whose StudyDate lies within this many days before the last successful poll (so a source
    # that was down catches up on the days it missed); None (the default): every date.
    study_date_window_days: int | None = Field(default=None, ge=0)
    # DICOM wildcard match on AccessionNumber (* and ?), e.g. "ACC*"; None: any.
    accession_pattern: str | None = Field(default=None, min_length=1, max_length=64)


class SourceBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    enabled: bool = True
    description: str = ""
    schedule: SourceSchedule
    query: SourceQuery = SourceQuery()
    # Retrievals of one poll running at once (studies in parallel), and retrieve requests per second.
    max_concurrency: int = Field(default=1, ge=1, le=32)
    rate_limit_per_second: float | None = Field(default=None, gt=0)
    # Studies looked at per poll (the rest wait for the next one).
    max_studies_per_poll: int = Field(default=500, ge=1)
    timeout_seconds: float = Field(default=30.0, gt=0)


class DicomwebSourceConfig(SourceBase):
    type: Literal["dicomweb"] = "dicomweb"
    # The DICOMweb root, e.g. https://pacs.example.org/dicom-web
    url: str = Field(pattern=r"^https?://")
    username: str | None = None
    # The environment variable holding the HTTP basic password (never the password itself).
    password_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN)
    verify_tls: bool = True


class HealthcareSourceConfig(SourceBase):
    """A Google Cloud Healthcare API DICOM store, read over DICOMweb with a Google bearer token."""

    type: Literal["healthcare"] = "healthcare"
    project: str = Field(min_length=1)
    location: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    dicom_store: str = Field(min_length=1)
    # The API root; change it only for an emulator or a private endpoint.
    base_url: str = Field(default="https://healthcare.googleapis.com/v1", pattern=r"^https?://")
    # An environment variable holding an access token; None: Application Default Credentials
    # (google-auth must be installed).
    token_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN)

    @property
    def dicomweb_url(self) -> str:
        return (
            f"{self.base_url.rstrip('/')}/projects/{self.project}/locations/{self.location}"
            f"/datasets/{self.dataset}/dicomStores/{self.dicom_store}/dicomWeb"
        )


class DimseSourceConfig(SourceBase):
    """A PACS queried with C-FIND (Study Root) and retrieved with C-MOVE (to Axiom's own listener) or
    C-GET (on the poll's own association)."""

    type: Literal["dimse"] = "dimse"
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    ae_title: str = Field(min_length=1, max_length=16)
    calling_ae_title: str = Field(default="AXIOM", min_length=1, max_length=16)
    retrieve: Literal["move", "get"] = "move"
    # The C-MOVE destination AE (the peer must know it); None: Axiom's own AE title (AXIOM_AE_TITLE).
    move_destination: str | None = Field(default=None, min_length=1, max_length=16)


SourceConfig = Annotated[
    DicomwebSourceConfig | HealthcareSourceConfig | DimseSourceConfig,
    Field(discriminator="type"),
]
