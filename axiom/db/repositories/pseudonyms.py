"""The pseudonyms table: record what the anonymize action used, find who a pseudonym stands for."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from axiom.db.base import utcnow
from axiom.db.models import PseudonymRow
from rules.anonymize.plan import Pseudonym


def original_id_hash(patient_id: str) -> str:
    return hashlib.sha256(patient_id.encode("utf-8", "surrogateescape")).hexdigest()


def _find(session: Session, pseudonym: str, id_hash: str) -> PseudonymRow | None:
    return session.scalars(
        select(PseudonymRow).where(
            PseudonymRow.pseudonym == pseudonym, PseudonymRow.original_id_hash == id_hash
        )
    ).one_or_none()


def record_pseudonym(session: Session, used: Pseudonym) -> PseudonymRow:
    """Insert the mapping, or touch ``last_used_at`` when it is known; safe against a concurrent insert."""
    id_hash = original_id_hash(used.original_patient_id)
    row = _find(session, used.patient_id, id_hash)
    if row is None:
        try:
            with session.begin_nested():
                row = PseudonymRow(
                    pseudonym=used.patient_id,
                    original_id_hash=id_hash,
                    original_patient_id=used.original_patient_id,
                    original_patient_name=used.original_patient_name,
                    method=used.method,
                    profile=used.profile,
                    date_shift_days=used.date_shift_days,
                )
                session.add(row)
            return row
        except IntegrityError:  # another worker recorded it in between
            row = _find(session, used.patient_id, id_hash)
            assert row is not None
    row.last_used_at = utcnow()
    if used.original_patient_name and not row.original_patient_name:
        row.original_patient_name = used.original_patient_name
    return row


def find_by_pseudonym(session: Session, pseudonym: str) -> Sequence[PseudonymRow]:
    return session.scalars(
        select(PseudonymRow).where(PseudonymRow.pseudonym == pseudonym).order_by(PseudonymRow.id)
    ).all()
