"""Poll and schedule state: each source's lease and watermark, the instances it pulled, Beat's schedule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from axiom.db.base import Base, utcnow
from axiom.db.models._common import (
    NAME_LENGTH,
    UID_LENGTH,
)


class SourceState(Base):
    """Poll state of one source, by name (kept apart from its configuration, so replacing the
    configuration keeps the watermark): the lease that makes one poll at a time, the watermark,
    the last outcome and the backoff."""

    __tablename__ = "source_states"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    # When the last successful poll started; the next poll's study date window counts back from it.
    watermark: Mapped[datetime | None] = mapped_column()
    lock_token: Mapped[str | None] = mapped_column(String(32))
    locked_until: Mapped[datetime | None] = mapped_column()
    last_poll_at: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    last_status: Mapped[str | None] = mapped_column(String(16))  # ok, partial, failed
    last_error: Mapped[str | None] = mapped_column(Text)
    last_found: Mapped[int] = mapped_column(Integer, default=0)
    last_retrieved: Mapped[int] = mapped_column(Integer, default=0)
    last_failed: Mapped[int] = mapped_column(Integer, default=0)
    total_retrieved: Mapped[int] = mapped_column(BigInteger, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # A failing source is not polled before this (exponential backoff).
    next_poll_after: Mapped[datetime | None] = mapped_column()


class PulledInstance(Base):
    """An instance a source retrieved: nothing is pulled twice, and a study that grows is pulled
    again for its new instances only."""

    __tablename__ = "source_pulled_instances"
    __table_args__ = (UniqueConstraint("source", "study_instance_uid", "sop_instance_uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(NAME_LENGTH))
    study_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH))
    sop_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH))
    pulled_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduleState(Base):
    """The single "schedule changed" row: its ``version`` moves whenever a source is created,
    changed or deleted, so Beat reloads its schedule only then."""

    __tablename__ = "schedule_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


SCHEDULE_STATE_ID = 1
