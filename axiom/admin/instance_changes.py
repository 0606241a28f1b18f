"""What the rules did to one received instance, for its study's timeline: which rules matched and
why the others did not, and the tag diff its destinations received.

Axiom keeps no copy of what it sent, so the diff is rebuilt: the instance's stored header (kept
``header_retention_days``) is evaluated, like a dry-run, against the versions of the rulesets the
worker recorded as matching that were current when the worker processed it, with the instance's own
arrival (AE titles, source, times, series count). Crosswalk lookups answer as they do now. When the
header is gone, the matched rules' actions are listed instead.

What a role below ``PHI_ROLE`` sees: the received values (``old``) are masked, and a new value only
shows when it is a rule's own ``set`` text; for everyone, values keyed with the deployment secret or
taken from a crosswalk stay masked (``dry_run_masking``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.dry_run import RuleReport, TagDiff, dry_run_dataset
from axiom.admin.study_views import MASKED_PHI
from axiom.db.models import DicomInstance, DicomSeries, InstanceHeader, RulesetVersion
from axiom.db.repositories.headers import series_count_at
from axiom.infra.crosswalk_cache import make_cache
from axiom.pipeline.crosswalk_lookup import CrosswalkLookup
from axiom.pipeline.header_retention import dataset_from_header
from rules.actions import SetAction
from rules.model import IngestContext, Ruleset


@dataclass
class InstanceChanges:
    sop_instance_uid: str
    recorded_rules: list[str]  # "ruleset/rule" as the worker recorded them
    # "header": rebuilt from the stored header; "rules": the header is gone, actions listed instead.
    basis: str
    versions: dict[str, int] = field(default_factory=dict)  # ruleset name -> version evaluated
    rules: list[RuleReport] = field(default_factory=list)
    changes: list[TagDiff] = field(default_factory=list)
    actions: dict[str, list[str]] = field(default_factory=dict)  # matched rule -> its actions
    note: str = ""


def _versions_at(
    session: Session, names: Sequence[str], moment: datetime
) -> dict[str, tuple[int, dict[str, Any]]]:
    """For each ruleset name, its newest version written up to ``moment`` (or its first one)."""
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for name in names:
        rows = list(
            session.scalars(
                select(RulesetVersion)
                .where(RulesetVersion.ruleset_name == name)
                .order_by(RulesetVersion.version)
            )
        )
        before = [r for r in rows if _aware(r.created_at) <= moment]
        if rows:
            chosen = (before or rows[:1])[-1]
            found[name] = (chosen.version, dict(chosen.definition))
    return found


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _action_summary(action: object) -> str:
    data = action.model_dump(mode="json", by_alias=True, exclude_none=True)  # type: ignore[attr-defined]
    return ", ".join(f"{kind}: {spec}" for kind, spec in data.items())


def _for_role(changes: list[TagDiff], rulesets: list[Ruleset], phi: bool) -> list[TagDiff]:
    if phi:
        return changes
    literal = {
        a.set.value for rs in rulesets for rule in rs.rules for a in rule.actions if isinstance(a, SetAction)
    }
    return [
        d.model_copy(
            update={
                "old": None if d.old is None else MASKED_PHI,
                "new": d.new if d.new is None or d.new in literal else MASKED_PHI,
            }
        )
        for d in changes
    ]


def instance_changes(
    sessions: sessionmaker[Session], sop_instance_uid: str, *, anon_secret: str, phi: bool
) -> InstanceChanges | None:
    """None when no such instance was received. Nothing is sent or written."""
    with sessions() as session:
        row = session.execute(
            select(DicomInstance, DicomSeries.series_instance_uid, InstanceHeader)
            .join(DicomSeries, DicomSeries.id == DicomInstance.series_id)
            .outerjoin(InstanceHeader, InstanceHeader.instance_id == DicomInstance.id)
            .where(DicomInstance.sop_instance_uid == sop_instance_uid)
        ).first()
        if row is None:
            return None
        instance, series_uid, header = row
        recorded = list(instance.matched_rules or [])
        moment = _aware(instance.processed_at or instance.received_at)
        versions = _versions_at(session, sorted({r.split("/", 1)[0] for r in recorded}), moment)
        count = series_count_at(session, series_uid, _aware(instance.received_at)) if header else 0
        stored = (
            dataset_from_header(header.header, header.encoded)
            if header is not None and (header.header or header.encoded)
            else None
        )
        arrival = (instance.calling_ae, instance.called_ae, instance.source, _aware(instance.received_at))
    out = InstanceChanges(sop_instance_uid, recorded, "header" if stored is not None else "rules")
    rulesets = []
    for name, (version, definition) in versions.items():
        try:
            rulesets.append(Ruleset.model_validate(definition).model_copy(update={"enabled": True}))
            out.versions[name] = version
        except ValidationError:
            out.note = f"version {version} of ruleset {name!r} no longer validates; left out"
    if not recorded:
        out.note = "no rule matched this instance when it was routed"
        return out
    if stored is None:
        for rs in rulesets:
            for rule in rs.rules:
                if f"{rs.name}/{rule.name}" in recorded:
                    out.actions[f"{rs.name}/{rule.name}"] = [_action_summary(a) for a in rule.actions]
        out.note = "the received header is no longer kept (header_retention_days): actions listed"
        return out
    lookup = CrosswalkLookup(sessions, make_cache("", max_entries=1_000, ttl_seconds=60.0))
    try:
        ctx = IngestContext(
            lookup=lookup,
            anon_secret=anon_secret,
            series_instance_count=max(count, 1),
            calling_ae=arrival[0] or "",
            called_ae=arrival[1] or "",
            source=arrival[2] or "",
            received_at=arrival[3],
            now=moment,
        )
        report = dry_run_dataset(sop_instance_uid, rulesets, stored, ctx)
    finally:
        lookup.close()
    out.rules = report.rules
    out.changes = _for_role(report.changes, rulesets, phi)
    matched = sorted(r.rule for r in report.rules if r.matched)
    if matched != sorted(recorded):
        out.note = f"evaluated again, the rules matched {', '.join(matched) or 'nothing'} (crosswalks change)"
    return out


__all__ = ["InstanceChanges", "instance_changes"]
