"""Poll one source: find what is new on the peer, pull it exactly once, record the outcome.

The same steps for every kind of source (the plugin only speaks its protocol):

1. Skip when the source is gone or disabled, when it is backing off after failures, or when another
   poll holds its lease (a conditional UPDATE: two Beat ticks or two workers never poll one source
   at once).
2. Ask the peer for studies whose StudyDate lies within ``study_date_window_days`` before the
   watermark (the start of the last successful poll), so a source that was down catches up.
3. Skip studies whose instance count the ledger of pulled instances already reaches; list the others'
   instances and retrieve only those not in the ledger (a growing study gets its new instances only),
   up to ``max_concurrency`` studies at once and ``rate_limit_per_second`` retrieve requests.
4. Record what was retrieved in the ledger (after it was spooled and queued), then the outcome: found,
   retrieved, failed, the last error, the last success. A poll that failed outright backs off
   exponentially; the watermark moves only when nothing failed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from axiom import metrics, sources
from axiom.config import Settings
from axiom.db.base import utcnow
from axiom.db.repositories import sources as sources_repo
from axiom.dicom.spool import ingest_spool
from axiom.domain.sources import SourceBase
from axiom.infra.events import make_events
from axiom.pipeline.ingest import Ingestor, RefusalLog
from axiom.pipeline.ports import TaskPublisher
from axiom.sources.base import RateLimiter, RemoteStudy, Source, StudyQuery

log = structlog.get_logger("axiom.sources")

ERROR_LENGTH = 500


@dataclass
class PollOutcome:
    source: str
    status: str  # ok, partial, failed, skipped
    studies: int = 0  # studies the peer listed
    found: int = 0  # instances not pulled before
    retrieved: int = 0
    failed: int = 0
    reason: str = ""  # why it was skipped, or the last error

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backoff_delay(consecutive_failures: int, *, base: float, cap: float) -> float:
    """Seconds a source waits after its n-th consecutive failed poll: base, 2*base, 4*base ... cap."""
    return float(min(cap, base * 2 ** max(0, consecutive_failures - 1)))


def poll_source(
    sessions: sessionmaker[Session],
    settings: Settings,
    publisher: TaskPublisher,
    name: str,
    *,
    now: datetime | None = None,
) -> PollOutcome:
    now = now or utcnow()
    with sessions() as session:
        row = sources_repo.get_source_row(session, name)
        if row is None:
            return PollOutcome(name, "skipped", reason="no such source")
        config = sources_repo.source_from_row(row)
        if not config.enabled:
            return PollOutcome(name, "skipped", reason="disabled")
        sources_repo.ensure_state(session, name)
        state = sources_repo.get_state(session, name)
        assert state is not None
        if state.next_poll_after is not None and state.next_poll_after > now:
            return PollOutcome(
                name, "skipped", reason=f"backing off until {state.next_poll_after.isoformat()}"
            )
        token = sources_repo.claim_lease(session, name, now=now, lease_seconds=settings.source_lease_seconds)
        watermark = state.watermark
        session.commit()
    if token is None:
        return PollOutcome(name, "skipped", reason="another poll holds the lease")

    try:
        ingest = Ingestor(
            ingest_spool(settings),
            publisher,
            RefusalLog(sessions, source=f"source {name}"),
            source=name,
            events=make_events(settings),  # pulled instances are live events like received ones
        )
        throttle = RateLimiter(config.rate_limit_per_second).wait
        source = sources.resolve(str(config.type))(config, settings, ingest, throttle)
        outcome = _run(sessions, source, config, watermark, now)
    except Exception as exc:  # a plugin that cannot even start is a failed poll, not a crashed task
        outcome = PollOutcome(name, "failed", reason=_error(exc))
    _record(sessions, settings, name, token, outcome, now)
    _count(outcome)
    log.info("source polled", **outcome.to_dict())
    return outcome


def _count(outcome: PollOutcome) -> None:
    metrics.SOURCE_POLLS.labels(source=outcome.source, status=outcome.status).inc()
    for kind, value in (
        ("found", outcome.found),
        ("retrieved", outcome.retrieved),
        ("failed", outcome.failed),
    ):
        if value:
            metrics.SOURCE_INSTANCES.labels(source=outcome.source, outcome=kind).inc(value)


def _error(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:ERROR_LENGTH]


def _run(
    sessions: sessionmaker[Session],
    source: Source,
    config: SourceBase,
    watermark: datetime | None,
    now: datetime,
) -> PollOutcome:
    name = config.name
    window = config.query.study_date_window_days
    query = StudyQuery(
        date_from=((watermark or now) - timedelta(days=window)).date() if window is not None else None,
        modalities=tuple(config.query.modalities),
        accession_pattern=config.query.accession_pattern,
        limit=config.max_studies_per_poll,
    )
    outcome = PollOutcome(name, "ok")
    try:
        studies = source.find_studies(query)
        outcome.studies = len(studies)
        with sessions() as session:
            counts = sources_repo.pulled_counts(session, name, [s.study_uid for s in studies])
        todo = [
            s for s in studies if s.instance_count is None or s.instance_count > counts.get(s.study_uid, 0)
        ]

        def pull(study: RemoteStudy) -> tuple[int, int, int, str | None]:
            try:
                return _pull_study(sessions, source, name, study.study_uid)
            except Exception as exc:
                return 0, 0, 1, _error(exc)

        with ThreadPoolExecutor(max_workers=config.max_concurrency) as pool:
            for found, retrieved, failed, error in pool.map(pull, todo):
                outcome.found += found
                outcome.retrieved += retrieved
                outcome.failed += failed
                if error:
                    outcome.reason = error
    except Exception as exc:
        outcome.status = "failed"
        outcome.reason = _error(exc)
        return outcome
    finally:
        source.close()
    if outcome.failed:
        outcome.status = "partial" if outcome.retrieved else "failed"
    return outcome


def _pull_study(
    sessions: sessionmaker[Session], source: Source, name: str, study_uid: str
) -> tuple[int, int, int, str | None]:
    instances = source.list_instances(study_uid)
    with sessions() as session:
        have = sources_repo.pulled_sops(session, name, study_uid)
    new = [i for i in instances if i.sop_uid not in have]
    if not new:
        return 0, 0, 0, None
    result = source.retrieve(study_uid, new, whole_study=not have and len(new) == len(instances))
    if result.retrieved:
        with sessions() as session:
            sources_repo.add_pulled(session, name, study_uid, result.retrieved)
            session.commit()
    failed = len(new) - len(result.retrieved)
    return len(new), len(result.retrieved), failed, result.error if failed else None


def _record(
    sessions: sessionmaker[Session],
    settings: Settings,
    name: str,
    token: str,
    outcome: PollOutcome,
    now: datetime,
) -> None:
    with sessions() as session:
        state = sources_repo.get_state(session, name)
        assert state is not None
        state.last_poll_at = now
        state.last_status = outcome.status
        state.last_found = outcome.found
        state.last_retrieved = outcome.retrieved
        state.last_failed = outcome.failed
        state.total_retrieved = (state.total_retrieved or 0) + outcome.retrieved
        state.last_error = outcome.reason or None
        if outcome.status == "failed":
            state.consecutive_failures = (state.consecutive_failures or 0) + 1
            delay = backoff_delay(
                state.consecutive_failures,
                base=settings.source_backoff_base_seconds,
                cap=settings.source_backoff_max_seconds,
            )
            state.next_poll_after = utcnow() + timedelta(seconds=delay)
        else:
            state.consecutive_failures = 0
            state.next_poll_after = None
            state.last_success_at = now
            if outcome.status == "ok":
                state.watermark = now
        sources_repo.release_lease(session, name, token)
        session.commit()


def source_status(session: Session) -> list[dict[str, Any]]:
    """Every configured source with its last poll outcome (for the monitoring API)."""
    states = sources_repo.get_states(session)
    rows = sources_repo.get_source_rows(session)
    out: list[dict[str, Any]] = []
    for name, row in rows.items():
        state = states.get(name)
        out.append(
            {
                "name": name,
                "type": row.type,
                "enabled": row.enabled,
                "last_status": state.last_status if state else None,
                "last_poll_at": state.last_poll_at if state else None,
                "last_success_at": state.last_success_at if state else None,
                "last_error": state.last_error if state else None,
                "found": state.last_found if state else 0,
                "retrieved": state.last_retrieved if state else 0,
                "failed": state.last_failed if state else 0,
                "total_retrieved": state.total_retrieved if state else 0,
                "consecutive_failures": state.consecutive_failures if state else 0,
                "next_poll_after": state.next_poll_after if state else None,
                "watermark": state.watermark if state else None,
                "polling": bool(state and state.locked_until is not None and state.locked_until > utcnow()),
            }
        )
    return out
