"""What the model modules share: column lengths, the enum column type and the timestamp and typed-config
mixins."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Enum,
    String,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from axiom.db.base import utcnow

UID_LENGTH = 64  # DICOM UI value representation: at most 64 characters
NAME_LENGTH = 64  # matches axiom.domain.destinations.NAME_PATTERN
USERNAME_LENGTH = 128


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
