"""Source configurations: the peers Beat polls. What every source has, whatever its kind.

Every source has a schedule (every N seconds/minutes, or a cron expression), a query filter and
limits; the kind adds its connection settings in its own model, beside its plugin
(``axiom/sources/<kind>.py``), validated in two steps like destinations (``axiom.plugins``). Passwords and tokens are never stored: a field ending
in ``_env`` names the environment variable that holds them on the workers.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator

from axiom.domain.destinations import KIND_PATTERN, NAME_PATTERN, by_registry

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
    # The registry alias of the kind; each kind's model (beside its plugin) narrows it to a Literal.
    type: str = Field(pattern=KIND_PATTERN)


# A source's configuration of any kind: its kind's own model, chosen by the registry.
SourceConfig = Annotated[SerializeAsAny[SourceBase], by_registry("sources")]
