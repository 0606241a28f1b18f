"""Series/study-complete rules: hold each matching instance in its group, decide when a group is
complete, and send the whole group once.

A group is complete ``quiet_seconds`` after its last arrival, or as soon as the expected number of
instances (NumberOfSeriesRelatedInstances / NumberOfStudyRelatedInstances in the data) has arrived.
Beat runs ``claim_complete_groups``; a worker sends each claimed group with ``fire_group``. An
instance arriving after its group was sent follows the rule's straggler policy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from pydicom import Dataset, dcmread
from sqlalchemy.orm import Session

from axiom.db.models import CompletionGroup, CompletionMember, GroupStatus
from axiom.db.repositories import completions as repo
from axiom.db.repositories import exceptions as exception_repo
from axiom.db.repositories import instances as instance_repo
from axiom.db.session import make_durable
from axiom.dicom.cfind import related_instance_count
from axiom.domain.instances import InstanceStatus, OutgoingInstance
from axiom.pipeline.deliver import by_priority
from axiom.pipeline.exception_copies import keep_copy
from axiom.pipeline.fire_chunk import Member, send_chunk
from axiom.pipeline.runtime import Runtime
from rules.engine import Deferred

log = structlog.get_logger("axiom.completion")

# Members sent (and committed) together when a group fires: one batched request per destination
# that batches, and a bound on the datasets held in memory.
FIRE_CHUNK = 50
_GROUP_UID = {"series": "SeriesInstanceUID", "study": "StudyInstanceUID"}
_EXPECTED = {"series": "NumberOfSeriesRelatedInstances", "study": "NumberOfStudyRelatedInstances"}


@dataclass
class Placement:
    """What holding an instance in its groups decided for the delivery that follows."""

    # Destinations to send to now (with their priority): send-alone stragglers of sent groups.
    send_now: dict[str, str] = field(default_factory=dict)
    # Whether some group holds the instance until it fires.
    waiting: bool = False
    # Copies a re-received instance replaced; removed once the new ones are committed.
    stale_files: list[Path] = field(default_factory=list)
    # Copies made for this placement; removed again if its commit fails (the retry makes its own).
    new_files: list[Path] = field(default_factory=list)


def expected_count(dataset: Dataset, level: str) -> int | None:
    """The instance count the data announces for its series/study, when it gives a usable one."""
    try:
        count = int(dataset.get(_EXPECTED[level]))
    except (TypeError, ValueError):
        return None
    return count if count > 0 else None


def is_complete(group: CompletionGroup, now: datetime) -> bool:
    if group.expected_count is not None and group.received_count >= group.expected_count:
        return True
    return now - group.last_arrival_at >= timedelta(seconds=group.quiet_seconds)


def place(
    runtime: Runtime,
    received: Dataset,
    outgoing: OutgoingInstance,
    deferred: Sequence[Deferred],
    now: datetime,
    *,
    counted: bool = True,
) -> Placement:
    """Hold ``outgoing`` in the group of each series/study-complete rule it matched (one commit).

    Groups are keyed by the UIDs of ``received`` (the instance as received), so a rule that rewrites
    UIDs still groups correctly. ``counted=False`` holds a document made from the instance (an AI
    finding's SR or Key Object) that goes with the group without counting towards its expected size.
    """
    placement = Placement()
    try:
        _place(runtime, received, outgoing, deferred, now, placement, counted=counted)
    except BaseException:
        for path in placement.new_files:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    for path in placement.stale_files:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return placement


def _place(
    runtime: Runtime,
    received: Dataset,
    outgoing: OutgoingInstance,
    deferred: Sequence[Deferred],
    now: datetime,
    placement: Placement,
    *,
    counted: bool,
) -> None:
    with runtime.sessions() as session:
        for item in deferred:
            level = item.trigger.level
            group = repo.lock_group(
                session,
                rule=item.rule,
                level=level,
                group_uid=str(received.get(_GROUP_UID[level], "")),
                new={
                    "study_instance_uid": str(received.get("StudyInstanceUID", "")),
                    "status": GroupStatus.COLLECTING,
                    "quiet_seconds": item.trigger.quiet_seconds or runtime.settings.completion_quiet_seconds,
                    "straggler": item.trigger.straggler,
                    "destinations": dict(item.destinations),
                    "count_query": _count_query(item),
                    "received_count": 0,
                    "first_arrival_at": now,
                    "last_arrival_at": now,
                    "fire_count": 0,
                },
            )
            # The rule as it is now decides: an admin may have changed its policy or destinations.
            group.straggler = item.trigger.straggler
            group.destinations = dict(item.destinations)
            group.count_query = _count_query(item)
            if group.status != GroupStatus.COLLECTING:
                _straggler(session, runtime, group, outgoing, now, placement)
                continue
            _hold(session, runtime, group, outgoing, now, placement, straggler=False, counted=counted)
            group.last_arrival_at = now
            expected = expected_count(received, level)
            if expected is not None:
                group.expected_count = max(expected, group.expected_count or 0)
            placement.waiting = True
        session.commit()


def _count_query(item: Deferred) -> dict[str, Any] | None:
    query = item.trigger.count_query
    return None if query is None else query.model_dump(mode="json")


def _hold(
    session: Session,
    runtime: Runtime,
    group: CompletionGroup,
    outgoing: OutgoingInstance,
    now: datetime,
    placement: Placement,
    *,
    straggler: bool,
    counted: bool = True,
) -> None:
    """Keep a copy for the group to send: a new member, or the newest copy of one re-received."""
    copy = keep_copy(outgoing, runtime.settings.held_dir, fsync=runtime.settings.spool_fsync)
    placement.new_files.append(copy)
    existing = repo.member(session, group.id, outgoing.sop_instance_uid)
    if existing is None:
        if counted:
            group.received_count += 1
        session.add(_member(group, outgoing, str(copy), now, straggler=straggler))
        return
    if existing.file_path:
        placement.stale_files.append(Path(existing.file_path))
    existing.file_path = str(copy)
    existing.delivered_at = None


def _member(
    group: CompletionGroup,
    outgoing: OutgoingInstance,
    path: str,
    now: datetime,
    *,
    straggler: bool,
    handled: bool = False,
) -> CompletionMember:
    """``handled``: sent alone or held as an exception, so the group has nothing left to send for it."""
    return CompletionMember(
        group_id=group.id,
        sop_instance_uid=outgoing.sop_instance_uid,
        content_hash=outgoing.content_hash or None,
        file_path=path,
        arrived_at=now,
        straggler=straggler,
        delivered_at=now if handled else None,
    )


def _straggler(
    session: Session,
    runtime: Runtime,
    group: CompletionGroup,
    outgoing: OutgoingInstance,
    now: datetime,
    placement: Placement,
) -> None:
    """An instance for a group already sent (or being sent): the rule's straggler policy decides."""
    settings = runtime.settings
    policy = group.straggler
    log.info(
        "straggler after its group was sent",
        rule=group.rule,
        level=group.level,
        sop_instance_uid=outgoing.sop_instance_uid,
        policy=policy,
    )
    if policy == "resend_study":
        _hold(session, runtime, group, outgoing, now, placement, straggler=True)
        repo.reopen(session, group, now)
        placement.waiting = True
        return
    existing = repo.member(session, group.id, outgoing.sop_instance_uid)
    path = ""
    if policy == "hold":
        # A person decides: one dead-lettered row per destination, each retryable from its own copy.
        for name in by_priority(group.destinations):
            copy = keep_copy(outgoing, settings.exceptions_dir, fsync=settings.spool_fsync)
            placement.new_files.append(copy)
            path = path or str(copy)
            row = exception_repo.add_exception(
                session,
                stage="trigger",
                error_class="Straggler",
                message=(
                    f"arrived after {group.level} of rule {group.rule!r} was sent; held by the rule's "
                    "straggler policy"
                ),
                sop_instance_uid=outgoing.sop_instance_uid,
                study_instance_uid=group.study_instance_uid,
                destination=name,
                file_path=str(copy),
            )
            exception_repo.dead_letter(session, row.id)
    else:  # send_alone
        for name, priority in group.destinations.items():
            placement.send_now.setdefault(name, priority)
    if existing is None:
        session.add(_member(group, outgoing, path, now, straggler=True, handled=True))


def refresh_expected_counts(runtime: Runtime, now: datetime) -> int:
    """Ask each collecting group's count peer (C-FIND) how many instances it has, at most once per
    ``completion_count_query_seconds``; returns how many answered. No transaction is open while asking."""
    every = timedelta(seconds=runtime.settings.completion_count_query_seconds)
    with runtime.sessions() as session:
        due = [
            (g.id, g.level, g.study_instance_uid, g.group_uid, dict(g.count_query))
            for g in repo.collecting(session)
            if g.count_query and (g.count_checked_at is None or now - g.count_checked_at >= every)
        ]
    answers: list[tuple[int, int | None]] = []
    for group_id, level, study_uid, group_uid, peer in due:
        count = related_instance_count(
            host=peer["host"],
            port=peer["port"],
            called_ae=peer["ae_title"],
            calling_ae=runtime.settings.ae_title,
            level=level,
            study_uid=study_uid,
            series_uid=group_uid,
        )
        answers.append((group_id, count))
    with runtime.sessions() as session:
        for group_id, count in answers:
            repo.set_count_answer(session, group_id, count, now)
        session.commit()
    return sum(count is not None for _, count in answers)


def claim_complete_groups(runtime: Runtime, now: datetime) -> list[int]:
    """Claim every complete group (and every group whose firing task was lost); their ids, to fire."""
    settings = runtime.settings
    with runtime.sessions() as session:
        claimed = [
            g.id for g in repo.collecting(session) if is_complete(g, now) and repo.claim(session, g, now)
        ]
        stale_before = now - timedelta(seconds=settings.completion_refire_after_seconds)
        claimed += repo.reclaim_stale(session, stale_before, now)
        session.commit()
    return claimed


@dataclass
class FireOutcome:
    sent: int = 0
    retries: list[tuple[int, float]] = field(default_factory=list)
    state: str = "fired"  # "fired", "reopened" (a resend-study straggler came in meanwhile), "skipped"


def fire_group(runtime: Runtime, group_id: int, now: datetime) -> FireOutcome:
    """Send every unsent member of a claimed group to the group's destinations, then mark it fired.

    Members go in chunks of ``FIRE_CHUNK`` (batched requests for destinations that batch, such as
    STOW-RS; memory stays bounded for large studies), each destination's ledger committed after its
    pass and each chunk marked sent, so a rerun after a crash resumes with the next chunk.
    """
    outcome = FireOutcome()
    with runtime.sessions() as session:
        group = session.get(CompletionGroup, group_id)
        if group is None or group.status != GroupStatus.FIRING:
            return FireOutcome(state="skipped")
        order = by_priority(group.destinations)
        keep_files = group.straggler == "resend_study"
        members = [
            (m.id, m.sop_instance_uid, m.instance_id, m.file_path, m.content_hash or "")
            for m in repo.pending_members(session, group_id)
        ]
        study_uid = group.study_instance_uid
    snapshot = runtime.config()
    for start in range(0, len(members), FIRE_CHUNK):
        chunk = members[start : start + FIRE_CHUNK]
        sending = [
            Member(
                OutgoingInstance(
                    dataset=dcmread(file_path),
                    source_file=Path(file_path),
                    sop_instance_uid=sop_uid,
                    study_instance_uid=study_uid,
                    content_hash=content_hash,
                ),
                instance_id,
                file_path,
            )
            for _, sop_uid, instance_id, file_path, content_hash in chunk
        ]
        chunk_failures, retries = send_chunk(
            runtime, snapshot, sending, order, apply_duplicate_policy=not keep_files
        )
        outcome.retries += retries
        with runtime.sessions() as session:
            for (member_id, _, instance_id, _, _), failures in zip(chunk, chunk_failures, strict=True):
                repo.mark_delivered(session, member_id, now)
                if instance_id is not None:
                    status = InstanceStatus.DELIVERED
                    if failures:
                        all_failed = len(failures) == len(order)
                        status = InstanceStatus.FAILED if all_failed else InstanceStatus.PARTIAL
                    instance_repo.set_instance_status(session, instance_id, status)
            session.commit()
        outcome.sent += len(chunk)
    with runtime.sessions() as session:
        make_durable(session)  # committed before the held copies go
        finished = repo.finish(session, group_id, now)
        session.commit()
    if not finished:
        outcome.state = "reopened"
    elif not keep_files:
        for _, _, _, file_path, _ in members:
            with contextlib.suppress(FileNotFoundError):
                Path(file_path).unlink()
    log.info("group sent", group_id=group_id, instances=outcome.sent, state=outcome.state)
    return outcome


def purge_fired_groups(runtime: Runtime, now: datetime) -> int:
    """Drop the copies and rows of groups sent more than ``completion_keep_hours`` ago."""
    before = now - timedelta(hours=runtime.settings.completion_keep_hours)
    with runtime.sessions() as session:
        groups = repo.fired_before(session, before)
        files = [path for group in groups for path in repo.member_files(session, group.id)]
        for group in groups:
            session.delete(group)
        session.commit()
    held = runtime.settings.held_dir
    for file_path in files:
        path = Path(file_path)
        if path.parent == held:  # held stragglers' copies belong to their exception rows
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return len(groups)
