"""Dry-run of a ruleset that is not applied yet (the console editor's text): the same report as
``dry_run.dry_run_files``, with the candidate evaluated in place of the stored version."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from axiom.db.repositories import instances as instance_repo
from axiom.services.crosswalk_cache import make_cache
from axiom.services.crosswalk_lookup import CrosswalkLookup
from axiom.services.dry_run import SOURCE, FileReport, Source, dry_run_dataset, read_dataset
from rules.model import IngestContext, Ruleset


def dry_run_candidate(
    sessions: sessionmaker[Session], source: Source, candidate: Ruleset, *, anon_secret: str = ""
) -> FileReport:
    """UnreadableFile when ``source`` is not DICOM; nothing is sent or stored."""
    name, dataset = read_dataset(source)
    moment = datetime.now(UTC)
    lookup = CrosswalkLookup(sessions, make_cache("", max_entries=10_000, ttl_seconds=60.0))
    try:
        with sessions() as session:
            series = str(dataset.get("SeriesInstanceUID", ""))
            ctx = IngestContext(
                lookup=lookup,
                anon_secret=anon_secret,
                series_instance_count=instance_repo.series_instance_count(session, series) + 1,
                calling_ae="",
                called_ae="",
                source=SOURCE,
                received_at=moment,
                now=moment,
            )
            report = dry_run_dataset(name, [candidate], dataset, ctx)
            session.rollback()
        return report
    finally:
        lookup.close()
