"""The ORM models: configuration (destinations, rulesets and their versions, crosswalks), received
DICOM, exceptions, audit.

No column holds PHI in clear (a study keeps only a hash of its PatientID), except crosswalk entries
(the lookup tables an admin chose to load), instance headers (the received headers, kept for
``header_retention_days`` so rule changes can be replayed) and pseudonyms (the original identity
behind each pseudonym the anonymize action sent, for audited re-identification) and an instance's
``raw_values`` (received values that did not fit their column or parse): all stay out of logs and
errors.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from axiom.db.base import Base, JSONType, utcnow
from axiom.domain.auth import Role
from axiom.domain.instances import InstanceStatus

UID_LENGTH = 64  # DICOM UI value representation: at most 64 characters
NAME_LENGTH = 64  # matches axiom.domain.destinations.NAME_PATTERN
USERNAME_LENGTH = 128


class ExceptionStatus(StrEnum):
    OPEN = "open"  # waiting for its next retry
    RESOLVED = "resolved"  # a retry succeeded
    DEAD = "dead"  # out of attempts, or a permanent failure: needs a person
    DISCARDED = "discarded"  # a person decided to drop it


def _str_enum(enum_cls: type[StrEnum]) -> Enum:
    # Store the values (not member names) as plain strings: no native ENUM type, so adding a status
    # later needs no migration.
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class _Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())


class _TypedConfigRow(_Timestamps):
    """A typed configuration (destination, source, peer): name, type and enabled as columns, the
    kind's other fields in ``config``."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class StorageBackend(_TypedConfigRow, Base):
    """A configured destination. ``config`` holds the kind's fields other than name/type/enabled."""

    __tablename__ = "storage_backends"


class RulesetRow(_Timestamps, Base):
    __tablename__ = "rulesets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    mode: Mapped[str] = mapped_column(String(32))
    # Ruleset fields without a column of their own (schedule, stop_after_match), as the model dumps them.
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, server_default=text("'{}'"))

    rules: Mapped[list[RuleRow]] = relationship(
        back_populates="ruleset",
        order_by="RuleRow.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class RuleRow(Base):
    """One rule of a ruleset. ``definition`` is the rule's JSON form less ``name`` and ``enabled``."""

    __tablename__ = "rules"
    __table_args__ = (UniqueConstraint("ruleset_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ruleset_id: Mapped[int] = mapped_column(ForeignKey("rulesets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    position: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column()
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    ruleset: Mapped[RulesetRow] = relationship(back_populates="rules")


class DicomStudy(_Timestamps, Base):
    __tablename__ = "dicom_studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH), unique=True)
    # sha256 of the PatientID: lets studies of one patient be grouped without storing who it is.
    patient_id_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    study_date: Mapped[str | None] = mapped_column(String(8))  # DICOM DA: YYYYMMDD
    instance_count: Mapped[int] = mapped_column(Integer, default=0)


class DicomSeries(Base):
    __tablename__ = "dicom_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    series_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH), unique=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("dicom_studies.id", ondelete="CASCADE"), index=True)
    modality: Mapped[str | None] = mapped_column(String(16))
    instance_count: Mapped[int] = mapped_column(Integer, default=0)


class DicomInstance(Base):
    __tablename__ = "dicom_instances"

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH), unique=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("dicom_series.id", ondelete="CASCADE"), index=True)
    sop_class_uid: Mapped[str | None] = mapped_column(String(UID_LENGTH))
    transfer_syntax_uid: Mapped[str | None] = mapped_column(String(UID_LENGTH))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    calling_ae: Mapped[str | None] = mapped_column(String(16))
    called_ae: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(NAME_LENGTH))  # "dimse", "stowrs", a poller's name
    status: Mapped[InstanceStatus] = mapped_column(_str_enum(InstanceStatus), index=True)
    spool_path: Mapped[str | None] = mapped_column(Text)
    matched_rules: Mapped[list[str] | None] = mapped_column(JSONType)
    destinations: Mapped[list[str] | None] = mapped_column(JSONType)
    received_count: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    processed_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    # Received values that did not fit their column (cut to fit there) or did not parse (left out of
    # the kept header), as received: {keyword: text}. None when every value fitted.
    raw_values: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    # AccessionNumber (SH, cut to 16): PHI-adjacent, shown and searched only by PHI roles (admin+).
    accession_number: Mapped[str | None] = mapped_column(String(16), index=True)


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


class AuditLog(Base):
    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now(), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    correlation_id: Mapped[str | None] = mapped_column(String(64), index=True)


class ConfigState(Base):
    """The single row whose ``version`` moves on every configuration change, so workers can cache
    rules and destinations and reload only when it moves."""

    __tablename__ = "config_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


CONFIG_STATE_ID = 1
CROSSWALK_KEY_LENGTH = 256


class RulesetVersion(Base):
    """One immutable snapshot of a ruleset, written on every change (apply, rollback, API).

    ``definition`` is the ruleset's canonical JSON as stored; ``content_hash`` its sha256 (the same
    digest the audit row of the change carries), so an unchanged apply can be told apart cheaply.
    Keyed by name, not by ``rulesets.id``: the history outlives a deleted ruleset.
    """

    __tablename__ = "ruleset_versions"
    __table_args__ = (UniqueConstraint("ruleset_name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ruleset_name: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column()
    content_hash: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))  # "created", "updated", "baseline", "rollback"
    restored_from: Mapped[int | None] = mapped_column(Integer)  # the version a rollback restored
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class InstanceHeader(Base):
    """The header of a received instance (its encoded bytes up to Pixel Data), kept for
    replaying rule changes against real traffic; deleted after ``header_retention_days``.

    One row per instance: a re-received instance replaces its header.
    """

    __tablename__ = "instance_headers"

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("dicom_instances.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # Rows from before issue 17 hold DICOM JSON; new rows the encoded bytes up to Pixel Data.
    header: Mapped[dict[str, Any] | None] = mapped_column()
    encoded: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class CrosswalkRow(_Timestamps, Base):
    """A named lookup table: where it is synced from, and how the last sync went.

    ``generation`` moves whenever a sync changes the entries, so lookup caches keyed by it never
    serve a value from before the change. ``last_error`` names a cause, never a key or value.
    """

    __tablename__ = "crosswalks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    source: Mapped[dict[str, Any]] = mapped_column()
    sync_seconds: Mapped[float] = mapped_column(Float)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    last_synced_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)


class CrosswalkEntry(Base):
    __tablename__ = "crosswalk_entries"

    crosswalk_id: Mapped[int] = mapped_column(
        ForeignKey("crosswalks.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(CROSSWALK_KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


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


class User(Base):
    """A person who may call the API. ``password_hash`` is an argon2 hash, never the password."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(_str_enum(Role))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class ApiKey(Base):
    """A key for scripts and services, shown once when created. Stored as the sha256 of the key;
    ``prefix`` (random, also in the key) finds the row without scanning. A key owned by a user
    works only while that user is active, and never above the user's role; deleting the user
    deletes the keys."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(_str_enum(Role))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User | None] = relationship()


class PseudonymRow(Base):
    """One pseudonym the anonymize action gave a patient, and who it stands for.

    Written by the worker when it sends an anonymized instance; read only by the audited
    re-identification (axiom.pipeline.pseudonyms.reidentify). ``original_id_hash`` is the
    sha256 of the original PatientID (as ``dicom_studies.patient_id_hash``), so the unique key needs
    no clear text.
    """

    __tablename__ = "pseudonyms"
    __table_args__ = (UniqueConstraint("pseudonym", "original_id_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    original_id_hash: Mapped[str] = mapped_column(String(64))
    original_patient_id: Mapped[str] = mapped_column(Text)
    original_patient_name: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(16))  # "crosswalk" or "hash"
    profile: Mapped[str] = mapped_column(String(NAME_LENGTH))
    date_shift_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class SourceRow(_TypedConfigRow, Base):
    """A configured source (a peer Beat polls). ``config`` holds the kind's fields other than
    name/type/enabled."""

    __tablename__ = "sources"


class PeerRow(_TypedConfigRow, Base):
    """A known DICOM peer of the listener. ``config`` holds the fields other than name/type/enabled."""

    __tablename__ = "peers"


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


__all__ = [
    "CONFIG_STATE_ID",
    "CROSSWALK_KEY_LENGTH",
    "SCHEDULE_STATE_ID",
    "ApiKey",
    "AuditLog",
    "Base",
    "CompletionGroup",
    "CompletionMember",
    "ConfigState",
    "CrosswalkEntry",
    "CrosswalkRow",
    "Delivery",
    "DeliveryStatus",
    "DicomInstance",
    "DicomSeries",
    "DicomStudy",
    "ExceptionLog",
    "ExceptionStatus",
    "GroupStatus",
    "InstanceHeader",
    "PseudonymRow",
    "PulledInstance",
    "RuleRow",
    "RulesetRow",
    "RulesetVersion",
    "ScheduleState",
    "SourceRow",
    "SourceState",
    "StorageBackend",
    "User",
]


class InferenceRecord(Base):
    """A model's result for one content of an instance (the ``infer`` rule action).

    Keyed on (SOP Instance UID, content hash, model): routing the same content again reads the stored
    result instead of running the model twice; a re-send with other content is inferred afresh.
    """

    __tablename__ = "inference_results"
    __table_args__ = (UniqueConstraint("sop_instance_uid", "content_hash", "model"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(UID_LENGTH))
    content_hash: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(NAME_LENGTH))
    model_version: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # ok, skipped, failed
    label: Mapped[str] = mapped_column(String(64), default="")
    scores: Mapped[dict[str, Any]] = mapped_column(JSONType)
    provider: Mapped[str] = mapped_column(String(64))
    duration_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
