"""Dry-runs the console needs beyond ``dry_run.dry_run_files``: a ruleset not applied yet (the
editor's text) and a recently received instance (its stored header, as ``axiom rules replay`` reads
it) instead of an uploaded file. The same report; nothing is sent or stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pydicom import Dataset
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.dry_run import SOURCE, FileReport, Source, dry_run_dataset, load_rulesets, read_dataset
from axiom.db.models import DicomInstance, InstanceHeader
from axiom.db.repositories import instances as instance_repo
from axiom.infra.crosswalk_cache import make_cache
from axiom.pipeline.crosswalk_lookup import CrosswalkLookup
from axiom.pipeline.header_retention import dataset_from_header
from rules.model import IngestContext, Ruleset

Chooser = Callable[[Session], list[Ruleset]]


def _run(
    sessions: sessionmaker[Session], name: str, dataset: Dataset, rulesets: Chooser, anon_secret: str
) -> FileReport:
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
            report = dry_run_dataset(name, rulesets(session), dataset, ctx)
            session.rollback()
        return report
    finally:
        lookup.close()


def _chooser(ruleset: str | None, candidate: Ruleset | None) -> Chooser:
    if candidate is not None:
        return lambda _: [candidate]
    return lambda session: load_rulesets(session, ruleset)


def dry_run_candidate(
    sessions: sessionmaker[Session], source: Source, candidate: Ruleset, *, anon_secret: str = ""
) -> FileReport:
    """``candidate`` against an uploaded file; UnreadableFile when it is not DICOM."""
    name, dataset = read_dataset(source)
    return _run(sessions, name, dataset, _chooser(None, candidate), anon_secret)


def recent_headers(session: Session, limit: int = 20) -> list[tuple[int, str, datetime]]:
    """(instance id, SOP Instance UID, received at) of the newest instances with a stored header."""
    rows = session.execute(
        select(InstanceHeader.instance_id, DicomInstance.sop_instance_uid, InstanceHeader.received_at)
        .join(DicomInstance, DicomInstance.id == InstanceHeader.instance_id)
        .order_by(InstanceHeader.received_at.desc())
        .limit(limit)
    )
    return [(int(i), str(uid), at) for i, uid, at in rows]


def dry_run_stored(
    sessions: sessionmaker[Session],
    instance_id: int,
    *,
    ruleset: str | None = None,
    candidate: Ruleset | None = None,
    anon_secret: str = "",
) -> FileReport:
    """A received instance's stored header against ``candidate`` or the stored ``ruleset``;
    LookupError when its header is gone (older than the retention) or never stored."""
    with sessions() as session:
        row = session.get(InstanceHeader, instance_id)
        instance = session.get(DicomInstance, instance_id)
        if row is None or instance is None:
            raise LookupError(f"no stored header for instance {instance_id}")
        dataset, name = dataset_from_header(row.header, row.encoded), instance.sop_instance_uid
    return _run(sessions, name, dataset, _chooser(ruleset, candidate), anon_secret)
