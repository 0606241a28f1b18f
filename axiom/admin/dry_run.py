"""Dry-run: what the routing rules would do with DICOM files an admin hands in, without doing it.

Each file is evaluated like the worker evaluates a received instance (the same ``IngestContext``
fields, crosswalk lookups through ``CrosswalkLookup``, the series count from the database), through
``rules.explain`` so every rule reports matched or why not. Nothing is sent and nothing is written:
the session is only read from and never committed.

Reports quote the file's own values in the tag diff: they are for the caller who asked, never for
logs. Values keyed with the deployment secret (pseudonyms, UIDs, date shifts) or taken from a
crosswalk are masked unless the caller asks for them (``reveal``: admins only, audited by the
caller; see dry_run_masking).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal

from pydantic import BaseModel
from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.crosswalks import UnknownCrosswalk
from axiom.admin.dry_run_masking import MASKED, RecordingLookup, keyed_tags
from axiom.db.repositories import audit as audit_repo
from axiom.db.repositories import config as config_repo
from axiom.db.repositories import instances as instance_repo
from axiom.infra.crosswalk_cache import make_cache
from axiom.pipeline.crosswalk_lookup import CrosswalkLookup
from axiom.pipeline.deliver import by_priority
from rules.engine import Outcome, Plan
from rules.explain import diff_datasets, explain
from rules.model import IngestContext, Lookup, Ruleset
from rules.morph import MorphError, apply_actions

# A file on disk, or (display name, stream) for an upload.
Source = Path | tuple[str, BinaryIO]

SOURCE = "dry-run"
# The audit action of a dry-run that shows keyed and crosswalk values unmasked.
REVEAL_ACTION = "rules.dry_run_revealed"
NO_DESTINATION = "no rule routed this instance to a destination; kept in quarantine"


class UnknownRuleset(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no ruleset named {name!r}")
        self.name = name


class UnreadableFile(ValueError):
    """A file that is not DICOM pydicom can read; the message names the file, never its content."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class ConditionFailure(BaseModel):
    path: str
    operator: str
    reason: str


class RuleReport(BaseModel):
    rule: str  # "ruleset/rule"
    matched: bool
    failure: ConditionFailure | None = None  # the first condition that did not hold
    skipped: str = ""  # why the rule was not evaluated at all


class TagDiff(BaseModel):
    tag: str  # "(0008,0080)"
    keyword: str  # "InstitutionName"; empty for private tags
    change: Literal["added", "removed", "changed"]
    old: str | None
    new: str | None


class DestinationReport(BaseModel):
    name: str
    priority: str
    # "instance": sent at once; "series"/"study": sent with its whole group once complete, by ``rule``.
    trigger: Literal["instance", "series", "study"] = "instance"
    rule: str = ""


class FileReport(BaseModel):
    file: str
    disposition: Literal["route", "quarantine", "drop"]
    reason: str = ""
    rules: list[RuleReport]
    # In the order the worker would deliver: high priority first.
    destinations: list[DestinationReport]
    # What the destinations would receive; empty unless the instance would be routed.
    changes: list[TagDiff]
    # Models an `infer` action would run first (the worker routes after them); a dry-run runs none,
    # so rules reading their results are shown as if the models had not run.
    infer: list[str] = []


def load_rulesets(session: Session, name: str | None) -> list[Ruleset]:
    """The active rulesets, or only ``name`` (evaluated even when disabled); UnknownRuleset otherwise."""
    if name is None:
        return config_repo.load_active_rulesets(session)
    row = config_repo.get_ruleset_row(session, name)
    if row is None:
        raise UnknownRuleset(name)
    return [config_repo.ruleset_from_row(row).model_copy(update={"enabled": True})]


def read_dataset(source: Source) -> tuple[str, Dataset]:
    name, target = (str(source), source) if isinstance(source, Path) else source
    try:
        return name, dcmread(target)
    except InvalidDicomError:
        raise UnreadableFile(name, "not a DICOM file") from None
    except OSError as exc:
        raise UnreadableFile(name, f"cannot read the file: {exc.strerror or type(exc).__name__}") from None
    except Exception as exc:  # pydicom raises many kinds for damaged files
        raise UnreadableFile(name, f"not a readable DICOM file ({type(exc).__name__})") from None


def _failure(outcome: Outcome) -> ConditionFailure | None:
    f = outcome.failure
    return None if f is None else ConditionFailure(path=f.path, operator=f.operator, reason=f.reason)


def _diff(before: Dataset, after: Dataset, masked: set[str]) -> list[TagDiff]:
    diffs = []
    for change in diff_datasets(before, after):
        tag, _, keyword = change.tag.partition(" ")
        new = MASKED if tag in masked and change.after is not None else change.after
        diffs.append(TagDiff(tag=tag, keyword=keyword, change=change.change, old=change.before, new=new))
    return diffs


def _destinations(plan: Plan) -> list[DestinationReport]:
    now = [DestinationReport(name=n, priority=plan.priorities[n]) for n in by_priority(plan.priorities)]
    later = [
        DestinationReport(name=n, priority=item.destinations[n], trigger=item.trigger.level, rule=item.rule)
        for item in plan.deferred
        for n in by_priority(item.destinations)
    ]
    return now + later


def dry_run_dataset(
    name: str, rulesets: Sequence[Ruleset], dataset: Dataset, ctx: IngestContext, *, reveal: bool = False
) -> FileReport:
    """One dataset's report, with the worker's dispositions (route_instance) for every outcome.

    Unless ``reveal``, new values keyed with the secret or taken from a crosswalk are masked.
    """
    recording = RecordingLookup(ctx.lookup)
    ctx = ctx.model_copy(update={"lookup": recording})
    try:
        explanation = explain(rulesets, dataset, ctx)
    except UnknownCrosswalk as exc:
        return FileReport(
            file=name, disposition="quarantine", reason=str(exc), rules=[], destinations=[], changes=[]
        )
    plan = explanation.plan
    rules = [
        RuleReport(rule=o.label, matched=o.matched, failure=_failure(o), skipped=o.skipped)
        for o in explanation.rules
    ]
    report = FileReport(
        file=name,
        disposition=plan.disposition,
        reason=plan.reason,
        rules=rules,
        destinations=[],
        changes=[],
        infer=[spec.model for spec in plan.infer]
        + [f"{r.spec.store_as} ({r.spec.provider} analyze)" for r in plan.analyze],
    )
    if plan.disposition != "route":
        return report
    if not plan.destinations and not plan.deferred:
        return report.model_copy(update={"disposition": "quarantine", "reason": NO_DESTINATION})
    try:
        masked = set() if reveal else keyed_tags(dataset, plan.actions, recording.values)
        changes = _diff(dataset, apply_actions(dataset, plan.actions), masked)
    except MorphError as exc:
        return report.model_copy(update={"disposition": "quarantine", "reason": f"tag edit failed: {exc}"})
    return report.model_copy(update={"destinations": _destinations(plan), "changes": changes})


def dry_run_files(
    sessions: sessionmaker[Session],
    sources: Sequence[Source],
    *,
    ruleset: str | None = None,
    now: datetime | None = None,
    calling_ae: str = "",
    called_ae: str = "",
    lookup: Lookup | None = None,
    anon_secret: str = "",
    reveal: bool = False,
) -> list[FileReport]:
    """Reports in the order of ``sources``. UnreadableFile / UnknownRuleset before anything is evaluated.

    ``lookup`` defaults to a ``CrosswalkLookup`` on ``sessions`` with an in-process cache.
    ``anon_secret`` is the deployment secret, to evaluate anonymize as the worker would; without it
    an anonymizing rule reports a quarantine. The pseudonyms, UIDs, date shifts and crosswalk values
    it yields are masked unless ``reveal`` (for admins; the caller audits it).
    """
    datasets = [read_dataset(source) for source in sources]
    moment = now or datetime.now(UTC)
    crosswalks = None
    if lookup is None:
        crosswalks = CrosswalkLookup(sessions, make_cache("", max_entries=10_000, ttl_seconds=60.0))
        lookup = crosswalks
    try:
        # Read what the rules need, then let the session go before evaluating: a crosswalk lookup
        # opens its own session, which on SQLite would wait for this one's write lock.
        with sessions() as session:
            rulesets = load_rulesets(session, ruleset)
            counts = [
                instance_repo.series_instance_count(session, str(ds.get("SeriesInstanceUID", "")))
                for _, ds in datasets
            ]
            session.rollback()
        reports = []
        for (name, dataset), count in zip(datasets, counts, strict=True):
            ctx = IngestContext(
                lookup=lookup,
                anon_secret=anon_secret,
                series_instance_count=count + 1,
                calling_ae=calling_ae,
                called_ae=called_ae,
                source=SOURCE,
                received_at=moment,
                now=moment,
            )
            reports.append(dry_run_dataset(name, rulesets, dataset, ctx, reveal=reveal))
    finally:
        if crosswalks is not None:
            crosswalks.close()
    return reports


def audit_reveal(sessions: sessionmaker[Session], actor: str, ruleset: str | None) -> None:
    """The audit row of an unmasked dry-run (who, which ruleset); committed before anything is shown."""
    with sessions() as session:
        audit_repo.add_audit(
            session, actor=actor, action=REVEAL_ACTION, target=f"ruleset:{ruleset or '*'}"[:256]
        )
        session.commit()


__all__ = [
    "REVEAL_ACTION",
    "ConditionFailure",
    "DestinationReport",
    "FileReport",
    "RuleReport",
    "Source",
    "TagDiff",
    "UnknownRuleset",
    "UnreadableFile",
    "audit_reveal",
    "dry_run_dataset",
    "dry_run_files",
    "load_rulesets",
    "read_dataset",
]
