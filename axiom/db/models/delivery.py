"""Routing outcomes: deliveries and route attempts, exceptions kept for retry, completion groups."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from axiom.db.base import Base, JSONType, utcnow
from axiom.db.models._common import (
    NAME_LENGTH,
    UID_LENGTH,
    _str_enum,
    _Timestamps,
)


class ExceptionStatus(StrEnum):
    OPEN = "open"  # waiting for its next retry
    RESOLVED = "resolved"  # a retry succeeded
    DEAD = "dead"  # out of attempts, or a permanent failure: needs a person
    DISCARDED = "discarded"  # a person decided to drop it


class ExceptionLog(_Timestamps, Base):
    """A failure kept for retry or for a person: one row per instance and stage/destination."""

    __tablename__ = "exception_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(32))  # "ingest", "route", "deliver", ...
    destination: Mapped[str | None] = mapped_column(String(NAME_LENGTH), index=True)
    error_class: Mapped[str] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text)
    sop_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH), index=True)
    study_instance_uid: Mapped[str | None] = mapped_column(String(UID_LENGTH), index=True)
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("dicom_instances.id", ondelete="SET NULL"), index=True
    )
    file_path: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    next_retry_at: Mapped[datetime | None] = mapped_column(index=True)
    status: Mapped[ExceptionStatus] = mapped_column(
        _str_enum(ExceptionStatus), default=ExceptionStatus.OPEN, index=True
    )


class GroupStatus(StrEnum):
    COLLECTING = "collecting"  # instances still arriving; not yet complete
    FIRING = "firing"  # claimed by the completeness check; its delivery task is queued or running
    FIRED = "fired"  # delivered once as a whole; later arrivals are stragglers


class CompletionGroup(Base):
    """The instances one series/study-complete rule collected for one series or study.

    ``rule`` reads "ruleset/rule"; ``destinations`` maps each destination to its priority, as the rule
    asked when the group opened. Complete after ``quiet_seconds`` without a new arrival, or as soon as
    ``received_count`` reaches ``expected_count`` when that is known. ``fire_count`` counts deliveries
    of the whole group (1 in normal operation; a resend-study straggler adds one).
    """

    __tablename__ = "completion_groups"
    __table_args__ = (UniqueConstraint("rule", "level", "group_uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(2 * NAME_LENGTH + 1))
    level: Mapped[str] = mapped_column(String(16))  # "series" or "study"
    group_uid: Mapped[str] = mapped_column(String(UID_LENGTH))
    study_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH), index=True)
    status: Mapped[GroupStatus] = mapped_column(_str_enum(GroupStatus), index=True)
    quiet_seconds: Mapped[float] = mapped_column(Float)
    straggler: Mapped[str] = mapped_column(String(16))  # "send_alone", "resend_study", "hold"
    destinations: Mapped[dict[str, Any]] = mapped_column()
    expected_count: Mapped[int | None] = mapped_column(Integer)
    # The peer a C-FIND asks for the expected count ({host, port, ae_title}), and when it last answered.
    count_query: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    count_checked_at: Mapped[datetime | None] = mapped_column()
    received_count: Mapped[int] = mapped_column(Integer, default=0)
    first_arrival_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_arrival_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column()
    fired_at: Mapped[datetime | None] = mapped_column()
    fire_count: Mapped[int] = mapped_column(Integer, default=0)


class CompletionMember(Base):
    """One instance of a completion group, with the held copy (as the rules morphed it) it fires from."""

    __tablename__ = "completion_members"
    __table_args__ = (UniqueConstraint("group_id", "sop_instance_uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("completion_groups.id", ondelete="CASCADE"), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("dicom_instances.id", ondelete="SET NULL"))
    file_path: Mapped[str] = mapped_column(Text)
    arrived_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
    straggler: Mapped[bool] = mapped_column(Boolean, default=False)


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"  # an exception row (``exception_id``) holds a copy and retries it


class Delivery(Base):
    """What each destination got of each distinct content of an instance: the delivery ledger.

    Keyed on (SOP Instance UID, content hash, destination), each row committed right after its own
    send: a rerun of the same arrival (a task redelivered after a crash) skips destinations that
    already have it, and an instance re-sent with the same content is recognized (the ``resent`` rule
    context) and handled per the destination's ``on_duplicate``.
    """

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("sop_instance_uid", "content_hash", "destination"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH))
    destination: Mapped[str] = mapped_column(String(NAME_LENGTH))
    content_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the dataset as received
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("dicom_instances.id", ondelete="SET NULL"), index=True
    )
    # The spooled file of the arrival that made this row: tells a rerun from a re-send.
    spool_path: Mapped[str | None] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(_str_enum(DeliveryStatus))
    exception_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Later arrivals of this same content the destination was not sent again (on_duplicate: skip).
    skipped_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # sha256 of what was sent, for on_duplicate: send_if_changed (None: not recorded).
    sent_hash: Mapped[str | None] = mapped_column(String(64))


class RouteAttempt(Base):
    """Failed attempts to route one arrival (its spooled file): bounds the retries of an instance
    whose routing keeps failing, which then becomes a dead exception row with its copy."""

    __tablename__ = "route_attempts"

    spool_path: Mapped[str] = mapped_column(Text, primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The class of the last failure (never its message: it may quote a received value).
    error_class: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
