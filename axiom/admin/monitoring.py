"""What ops watch: readiness of the servers, queue depths, throughput, destination health, and
instance/study search. Plain functions over the settings and a session; the API renders them."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from axiom.config import Settings
from axiom.db.models import DicomInstance, DicomSeries, DicomStudy, ExceptionLog, ExceptionStatus
from axiom.db.repositories import config as config_repo
from axiom.db.repositories import inference as inference_repo
from axiom.infra.delivery_guard import DeliveryGuard

CHECK_TIMEOUT_SECONDS = 2.0


def _failed(exc: BaseException) -> str:
    return f"failed: {type(exc).__name__}"


def check_database(session: Session) -> str:
    try:
        session.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:
        return _failed(exc)


def check_broker(settings: Settings) -> str:
    if settings.embedded_broker:
        folder = settings.broker_dir / "queue"
        return "ok" if folder.is_dir() and os.access(folder, os.W_OK) else f"failed: {folder} not writable"
    from kombu import Connection

    try:
        with Connection(settings.effective_broker_url, connect_timeout=CHECK_TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
        return "ok"
    except Exception as exc:
        return _failed(exc)


def check_result_backend(settings: Settings) -> str:
    url = settings.effective_result_backend
    if url.startswith("file://"):
        folder = Path(url.removeprefix("file://"))
        return "ok" if folder.is_dir() and os.access(folder, os.W_OK) else f"failed: {folder} not writable"
    if url.startswith(("redis://", "rediss://")):
        import redis

        try:
            client = redis.Redis.from_url(
                url, socket_timeout=CHECK_TIMEOUT_SECONDS, socket_connect_timeout=CHECK_TIMEOUT_SECONDS
            )
            client.ping()
            client.close()
            return "ok"
        except Exception as exc:
            return _failed(exc)
    return "ok (not checked: unknown scheme)"


def readiness(settings: Settings, session: Session) -> dict[str, str]:
    return {
        "database": check_database(session),
        "broker": check_broker(settings),
        "result_backend": check_result_backend(settings),
    }


def model_providers(session: Session) -> dict[str, str]:
    """``model:version`` -> the execution provider of its latest run (empty when unreadable)."""
    try:
        return inference_repo.providers_in_use(session)
    except Exception:
        session.rollback()
        return {}


def queue_depths(settings: Settings, queues: Iterable[str]) -> dict[str, int | None]:
    """Messages waiting per queue; None for a queue whose depth could not be read."""
    names = list(queues)
    if settings.embedded_broker:
        counts: Counter[str] = Counter()
        folder = settings.broker_dir / "queue"
        try:
            for entry in os.scandir(folder):
                # '<time>_<uuid>.<queue>.msg' (workers/fs_transport.py); hidden names are half-written.
                if not entry.name.startswith(".") and entry.name.endswith(".msg"):
                    counts[entry.name.partition(".")[2].removesuffix(".msg")] += 1
        except OSError:
            return dict.fromkeys(names)
        return {name: counts.get(name, 0) for name in names}
    from kombu import Connection

    depths: dict[str, int | None] = dict.fromkeys(names)
    try:
        with Connection(settings.effective_broker_url, connect_timeout=CHECK_TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
            for name in names:
                channel = conn.channel()
                try:
                    depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
                except Exception:
                    depths[name] = None  # not declared yet (no worker started) or not readable
                finally:
                    channel.close()
    except Exception:
        pass
    return depths


def _minute(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.date_trunc("minute", func.timezone("UTC", column)), 'YYYY-MM-DD"T"HH24:MI')
    return func.strftime("%Y-%m-%dT%H:%M", column)


def throughput(session: Session, minutes: int, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Instances received and processed per minute over the last ``minutes`` (oldest first)."""
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    since = now - timedelta(minutes=minutes - 1)
    rows: dict[str, dict[str, int]] = {}
    for kind, column in (("received", DicomInstance.received_at), ("processed", DicomInstance.processed_at)):
        bucket = _minute(session, column)
        stmt = select(bucket, func.count()).where(column >= since).group_by(bucket)
        for minute, count in session.execute(stmt):
            rows.setdefault(str(minute), {})[kind] = int(count)
    out = []
    for step in range(minutes):
        key = (now - timedelta(minutes=minutes - 1 - step)).strftime("%Y-%m-%dT%H:%M")
        counts = rows.get(key, {})
        out.append(
            {"minute": key, "received": counts.get("received", 0), "processed": counts.get("processed", 0)}
        )
    return out


@dataclass(frozen=True)
class DestinationHealth:
    name: str
    type: str
    enabled: bool
    circuit: str  # closed / open / half_open, or "unknown" where the breaker is per worker process
    consecutive_failures: int | None
    backlog: int  # open exception rows (waiting for a retry)
    dead_letters: int
    last_error: str | None
    last_error_at: datetime | None


def destination_health(session: Session, guard: DeliveryGuard | None) -> list[DestinationHealth]:
    configs = config_repo.load_destination_configs(session)
    counts: dict[tuple[str, str], int] = {
        (str(dest), str(status.value)): int(n)
        for dest, status, n in session.execute(
            select(ExceptionLog.destination, ExceptionLog.status, func.count())
            .where(ExceptionLog.destination.is_not(None))
            .group_by(ExceptionLog.destination, ExceptionLog.status)
        )
    }
    out = []
    for name, config in sorted(configs.items()):
        last = session.scalars(
            select(ExceptionLog)
            .where(ExceptionLog.destination == name)
            .order_by(ExceptionLog.updated_at.desc(), ExceptionLog.id.desc())
            .limit(1)
        ).first()
        state = guard.breaker(config) if guard is not None else None
        out.append(
            DestinationHealth(
                name=name,
                type=str(config.type),
                enabled=bool(getattr(config, "enabled", True)),
                circuit=state.state if state else "unknown",
                consecutive_failures=state.consecutive_failures if state else None,
                backlog=counts.get((name, ExceptionStatus.OPEN.value), 0),
                dead_letters=counts.get((name, ExceptionStatus.DEAD.value), 0),
                last_error=f"{last.error_class}: {last.message}"[:500] if last else None,
                last_error_at=last.updated_at if last else None,
            )
        )
    return out


@dataclass(frozen=True)
class InstanceFilter:
    sop_instance_uid: str | None = None
    series_instance_uid: str | None = None
    study_instance_uid: str | None = None
    source: str | None = None
    status: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None


def search_instances(
    session: Session, where: InstanceFilter, *, limit: int, offset: int
) -> tuple[int, list[tuple[DicomInstance, str, str]]]:
    """(total, page of (instance, series UID, study UID)), newest first."""
    stmt = (
        select(DicomInstance, DicomSeries.series_instance_uid, DicomStudy.study_instance_uid)
        .join(DicomSeries, DicomInstance.series_id == DicomSeries.id)
        .join(DicomStudy, DicomSeries.study_id == DicomStudy.id)
    )
    conditions = []
    if where.sop_instance_uid:
        conditions.append(DicomInstance.sop_instance_uid == where.sop_instance_uid)
    if where.series_instance_uid:
        conditions.append(DicomSeries.series_instance_uid == where.series_instance_uid)
    if where.study_instance_uid:
        conditions.append(DicomStudy.study_instance_uid == where.study_instance_uid)
    if where.source:
        conditions.append(DicomInstance.source == where.source)
    if where.status:
        conditions.append(DicomInstance.status == where.status)
    if where.received_from:
        conditions.append(DicomInstance.received_at >= _aware(where.received_from))
    if where.received_to:
        conditions.append(DicomInstance.received_at < _aware(where.received_to))
    stmt = stmt.where(*conditions)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    page = session.execute(
        stmt.order_by(DicomInstance.received_at.desc(), DicomInstance.id.desc()).limit(limit).offset(offset)
    ).all()
    return total, [(row[0], row[1], row[2]) for row in page]


def _aware(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:  # a bound near year 1 or 9999 with an offset: as far as time goes
        return (datetime.min if value.year < 5000 else datetime.max).replace(tzinfo=UTC)
