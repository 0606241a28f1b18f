"""The message a listener publishes for each spooled instance (JSON-serializable, no PHI)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class InstanceMessage:
    spool_path: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    calling_ae: str
    called_ae: str
    source: str
    received_at: str  # ISO 8601, UTC
    size_bytes: int
    # Follows the instance from the listener (or STOW-RS) into the worker's logs; older messages lack it.
    correlation_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceMessage:
        return cls(**{field: data[field] for field in cls.__dataclass_fields__ if field in data})
