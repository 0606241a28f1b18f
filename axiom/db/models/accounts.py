"""People and what they did: users, API keys, the audit log, and pseudonyms kept for audited
re-identification."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from axiom.db.base import Base, JSONType, utcnow
from axiom.db.models._common import (
    NAME_LENGTH,
    USERNAME_LENGTH,
    _str_enum,
)
from axiom.domain.auth import Role


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


class AuditLog(Base):
    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now(), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    correlation_id: Mapped[str | None] = mapped_column(String(64), index=True)


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
