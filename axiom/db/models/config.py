"""Configuration: destinations, rulesets and their versions, crosswalks, sources and peers, and the
configuration state row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from axiom.db.base import Base, JSONType, utcnow
from axiom.db.models._common import (
    NAME_LENGTH,
    _Timestamps,
    _TypedConfigRow,
)


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


class SourceRow(_TypedConfigRow, Base):
    """A configured source (a peer Beat polls). ``config`` holds the kind's fields other than
    name/type/enabled."""

    __tablename__ = "sources"


class PeerRow(_TypedConfigRow, Base):
    """A known DICOM peer of the listener. ``config`` holds the fields other than name/type/enabled."""

    __tablename__ = "peers"
