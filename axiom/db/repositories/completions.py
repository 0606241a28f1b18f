"""Completion groups: the instances series/study-complete rules collect, and their one firing.

Every state change is a conditional UPDATE on ``status`` (and the arrival or claim time it saw), so
two Beat ticks, a straggler and a firing task can race without a group firing twice or a member
being left behind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from axiom.db.models import CompletionGroup, CompletionMember, GroupStatus


def lock_group(
    session: Session, *, rule: str, level: str, group_uid: str, new: dict[str, Any]
) -> CompletionGroup:
    """The group of ``rule`` for this series/study, created (``new`` holds its fields) if missing;
    row-locked on PostgreSQL (SQLite's write transaction already serializes writers)."""
    lookup = (
        select(CompletionGroup)
        .where(
            CompletionGroup.rule == rule,
            CompletionGroup.level == level,
            CompletionGroup.group_uid == group_uid,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = session.scalars(lookup).one_or_none()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(CompletionGroup(rule=rule, level=level, group_uid=group_uid, **new))
    except IntegrityError:
        pass  # another worker opened it first; the look-up below waits for its commit
    return session.scalars(lookup).one()


def member(session: Session, group_id: int, sop_instance_uid: str) -> CompletionMember | None:
    return session.scalars(
        select(CompletionMember).where(
            CompletionMember.group_id == group_id, CompletionMember.sop_instance_uid == sop_instance_uid
        )
    ).one_or_none()


def link_instance(session: Session, sop_instance_uid: str, instance_id: int) -> None:
    session.execute(
        update(CompletionMember)
        .where(CompletionMember.sop_instance_uid == sop_instance_uid, CompletionMember.instance_id.is_(None))
        .values(instance_id=instance_id)
    )


def reopen(session: Session, group: CompletionGroup, now: datetime) -> None:
    """Collect again and send every member once more (the resend-study straggler policy)."""
    group.status = GroupStatus.COLLECTING
    group.claimed_at = None
    group.last_arrival_at = now
    session.execute(
        update(CompletionMember).where(CompletionMember.group_id == group.id).values(delivered_at=None)
    )


def collecting(session: Session) -> list[CompletionGroup]:
    return list(
        session.scalars(select(CompletionGroup).where(CompletionGroup.status == GroupStatus.COLLECTING))
    )


def set_count_answer(session: Session, group_id: int, count: int | None, now: datetime) -> None:
    """Record a count peer's answer (None: it gave none; the announced count, if any, stays)."""
    values: dict[str, Any] = {"count_checked_at": now}
    if count is not None:
        values["expected_count"] = count
    session.execute(
        update(CompletionGroup)
        .where(CompletionGroup.id == group_id, CompletionGroup.status == GroupStatus.COLLECTING)
        .values(**values)
    )


def claim(session: Session, group: CompletionGroup, now: datetime) -> bool:
    """Move a complete group to firing, unless an instance arrived since it was read."""
    result = session.execute(
        update(CompletionGroup)
        .where(
            CompletionGroup.id == group.id,
            CompletionGroup.status == GroupStatus.COLLECTING,
            CompletionGroup.last_arrival_at == group.last_arrival_at,
        )
        .values(status=GroupStatus.FIRING, claimed_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def reclaim_stale(session: Session, claimed_before: datetime, now: datetime) -> list[int]:
    """Groups claimed long ago and still firing (their task was lost): claimed again, ids returned."""
    ids = list(
        session.scalars(
            select(CompletionGroup.id).where(
                CompletionGroup.status == GroupStatus.FIRING, CompletionGroup.claimed_at < claimed_before
            )
        )
    )
    if ids:
        session.execute(update(CompletionGroup).where(CompletionGroup.id.in_(ids)).values(claimed_at=now))
    return ids


def pending_members(session: Session, group_id: int) -> list[CompletionMember]:
    return list(
        session.scalars(
            select(CompletionMember)
            .where(CompletionMember.group_id == group_id, CompletionMember.delivered_at.is_(None))
            .order_by(CompletionMember.id)
        )
    )


def mark_delivered(session: Session, member_id: int, now: datetime) -> None:
    session.execute(update(CompletionMember).where(CompletionMember.id == member_id).values(delivered_at=now))


def finish(session: Session, group_id: int, now: datetime) -> bool:
    """Firing -> fired; False when a resend-study straggler reopened the group meanwhile."""
    result = session.execute(
        update(CompletionGroup)
        .where(CompletionGroup.id == group_id, CompletionGroup.status == GroupStatus.FIRING)
        .values(status=GroupStatus.FIRED, fired_at=now, fire_count=CompletionGroup.fire_count + 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def fired_before(session: Session, before: datetime) -> list[CompletionGroup]:
    return list(
        session.scalars(
            select(CompletionGroup).where(
                CompletionGroup.status == GroupStatus.FIRED, CompletionGroup.fired_at < before
            )
        )
    )


def member_files(session: Session, group_id: int) -> list[str]:
    return [
        path
        for path in session.scalars(
            select(CompletionMember.file_path).where(CompletionMember.group_id == group_id)
        )
        if path
    ]
