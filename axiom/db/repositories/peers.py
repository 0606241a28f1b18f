"""Known peers as stored: one row each, name/type/enabled as columns and the rest as JSON."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from axiom.db.models import PeerRow
from axiom.db.repositories.config import typed_row_data, typed_row_values
from axiom.domain.peers import PeerConfig


def peer_from_row(row: PeerRow) -> PeerConfig:
    return PeerConfig.model_validate(typed_row_data(row))


def peer_row_values(config: PeerConfig) -> dict[str, Any]:
    return typed_row_values(config)


def load_peer_configs(session: Session, *, enabled_only: bool = False) -> dict[str, PeerConfig]:
    rows = session.scalars(select(PeerRow).order_by(PeerRow.name))
    return {row.name: peer_from_row(row) for row in rows if row.enabled or not enabled_only}
