"""Ingest-side records: a refused payload gets an exception row pointing at its quarantined copy."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from axiom.db.repositories import exceptions as exception_repo


class RefusalLog:
    def __init__(self, sessions: sessionmaker[Session], source: str = "listener") -> None:
        self.sessions = sessions
        self.source = source

    def __call__(self, kept: Path, reason: str, sop_instance_uid: str, calling_ae: str) -> None:
        with self.sessions() as session:
            exception_repo.add_exception(
                session,
                stage="ingest",
                error_class="InvalidDataset",
                message=f"refused from {self.source} (calling AE {calling_ae!r}): {reason}",
                sop_instance_uid=sop_instance_uid,
                study_instance_uid="",
                file_path=str(kept),
            )
            session.commit()
