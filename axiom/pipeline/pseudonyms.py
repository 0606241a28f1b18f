"""Store the pseudonyms the anonymize action used, and re-identify one through an audited call.

``reidentify`` is the only way back from a pseudonym to a patient: every call writes an audit_logs
row (who, which pseudonym, why, how many matches) before returning, and the row never holds the
identity itself. The CLI (``axiom anonymize reidentify``) and the admin API route wrap it as is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from axiom.db.repositories import audit as audit_repo
from axiom.db.repositories import pseudonyms as pseudonym_repo
from rules.anonymize.plan import Pseudonym

REIDENTIFY_ACTION = "reidentify"


def record_pseudonyms(session: Session, used: Iterable[Pseudonym]) -> None:
    """Called in the worker's commit for an anonymized instance (the caller commits)."""
    for pseudonym in used:
        pseudonym_repo.record_pseudonym(session, pseudonym)


@dataclass(frozen=True)
class Identity:
    pseudonym: str
    patient_id: str
    patient_name: str
    method: str
    profile: str
    date_shift_days: int | None
    first_used: datetime
    last_used: datetime


class ReidentifyRefused(ValueError):
    """Re-identification needs an actor and a reason; nothing was looked up or audited."""


def reidentify(session: Session, pseudonym: str, *, actor: str, reason: str) -> list[Identity]:
    """Who ``pseudonym`` stands for (usually one patient; empty when unknown), audited and committed."""
    if not actor.strip():
        raise ReidentifyRefused("re-identification needs the actor's name")
    if not reason.strip():
        raise ReidentifyRefused("re-identification needs a reason (it is kept in the audit log)")
    rows = pseudonym_repo.find_by_pseudonym(session, pseudonym.strip())
    audit_repo.add_audit(
        session,
        actor=actor,
        action=REIDENTIFY_ACTION,
        target=pseudonym.strip()[:256],
        details={"reason": reason, "matches": len(rows)},
    )
    session.commit()
    return [
        Identity(
            pseudonym=row.pseudonym,
            patient_id=row.original_patient_id,
            patient_name=row.original_patient_name,
            method=row.method,
            profile=row.profile,
            date_shift_days=row.date_shift_days,
            first_used=row.created_at,
            last_used=row.last_used_at,
        )
        for row in rows
    ]
