"""Received DICOM: studies, series, instances, their kept headers, and model results per instance."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from axiom.db.base import Base, JSONType, utcnow
from axiom.db.models._common import (
    NAME_LENGTH,
    UID_LENGTH,
    _str_enum,
    _Timestamps,
)
from axiom.domain.instances import InstanceStatus


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
