"""Replay: how routing would have differed, over the instances received in a time range, had a
candidate version of one ruleset been live.

Each kept header (see header_retention) is rebuilt into a dataset and evaluated with the pure engine
against the current active rulesets with the named ruleset replaced by the candidate. The outcome is
compared with what actually happened: the instance row's matched rules and destinations, or, when
the row holds neither (a quarantined or unmatched instance), the plan under the current rulesets.
Nothing is written and nothing is sent; the only I/O is reading rows (headers, instances,
crosswalk entries for lookups).

Reports carry SOP Instance UIDs and rule/destination names, never header values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel
from pydicom import Dataset
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.apply_config import ConfigFileError, load_config_file
from axiom.admin.crosswalks import UnknownCrosswalk
from axiom.db.models import StorageBackend
from axiom.db.repositories import config as config_repo
from axiom.db.repositories import headers as header_repo
from axiom.db.repositories import ruleset_versions as versions_repo
from axiom.infra.crosswalk_cache import make_cache
from axiom.pipeline.crosswalk_lookup import CrosswalkLookup
from axiom.pipeline.header_retention import dataset_from_header
from rules.engine import Plan, evaluate
from rules.model import IngestContext, Lookup, Ruleset

# (done, total) after each replayed instance.
Progress = Callable[[int, int], None]

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class ReplayInputError(ValueError):
    """A --since, ruleset or candidate that cannot be replayed; the message says which and why."""


class ReplayDifference(BaseModel):
    sop_instance_uid: str
    received_at: datetime
    actual_matched: list[str]
    actual_destinations: list[str]
    candidate_matched: list[str]
    candidate_destinations: list[str]
    candidate_disposition: str


class ReplayReport(BaseModel):
    ruleset: str
    since: datetime
    until: datetime
    total: int
    same: int
    different: int
    differences: list[ReplayDifference]


def parse_since(text: str, now: datetime) -> datetime:
    """``30m``, ``12h``, ``2d`` before ``now``, or an ISO date/date-time (UTC unless it says otherwise)."""
    match = _RELATIVE.match(text)
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReplayInputError(
            f"--since {text!r}: expected a duration like 30m, 12h, 2d or an ISO date such as 2026-11-20"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def stored_candidate(session: Session, name: str, version: int) -> Ruleset:
    """Version ``version`` of ruleset ``name`` as stored by ruleset_versions."""
    try:
        row = versions_repo.get_version(session, name, version)
    except versions_repo.VersionNotFound as exc:
        raise ReplayInputError(str(exc)) from None
    return Ruleset.model_validate(row.definition)


def file_candidate(session: Session, name: str, path: Path) -> Ruleset:
    """Ruleset ``name`` from a configuration file, validated as ``axiom apply`` validates it."""
    try:
        config = load_config_file(path)
        known = session.scalars(select(StorageBackend.name)).all()
        problems = config.undefined_destinations(known)
        if problems:
            raise ConfigFileError(config.source, problems)
    except ConfigFileError as exc:
        raise ReplayInputError(str(exc)) from None
    for ruleset in config.rulesets:
        if ruleset.name == name:
            return ruleset
    raise ReplayInputError(f"{path}: no ruleset named {name!r} in the file")


def _reads_series_count(rulesets: Sequence[Ruleset]) -> bool:
    return any('"series_instance_count"' in r.model_dump_json(by_alias=True) for r in rulesets)


# Replay compares routing only: the anonymize action needs a secret to plan, but its value changes
# UIDs and pseudonyms, never where an instance goes or whether it is quarantined.
_ROUTING_ONLY_SECRET = "replay: routing only"


def _plan(rulesets: Sequence[Ruleset], dataset: Dataset, ctx: IngestContext) -> Plan:
    """The worker's plan; an unknown crosswalk quarantines there, so it does here."""
    try:
        return evaluate(rulesets, dataset, ctx)
    except UnknownCrosswalk as exc:
        return Plan(disposition="quarantine", reason=str(exc))


def replay(
    sessions: sessionmaker[Session],
    *,
    since: datetime,
    candidate: Ruleset,
    ruleset_name: str,
    now: datetime | None = None,
    progress: Progress | None = None,
    lookup: Lookup | None = None,
) -> ReplayReport:
    """Replay the headers received in [since, now] (default now: the current time).

    Scheduled rulesets are checked against each instance's receipt time, as the worker did.
    ``lookup`` defaults to a ``CrosswalkLookup`` on ``sessions`` with an in-process cache.
    """
    if candidate.name != ruleset_name:
        raise ReplayInputError(f"the candidate is ruleset {candidate.name!r}, not {ruleset_name!r}")
    until = now or datetime.now(UTC)
    crosswalks = None
    if lookup is None:
        crosswalks = CrosswalkLookup(sessions, make_cache("", max_entries=10_000, ttl_seconds=60.0))
        lookup = crosswalks
    differences: list[ReplayDifference] = []
    total = 0
    try:
        with sessions() as session:
            current = config_repo.load_active_rulesets(session)
            replaced = [r for r in current if r.name != ruleset_name] + [candidate]
            needs_series = _reads_series_count([*current, candidate])
            expected = header_repo.count_headers(session, since, until)
            for stored in header_repo.iter_headers(session, since, until):
                dataset = dataset_from_header(stored.header, stored.encoded)
                ctx = IngestContext(
                    lookup=lookup,
                    anon_secret=_ROUTING_ONLY_SECRET,
                    series_instance_count=(
                        header_repo.series_count_at(session, stored.series_instance_uid, stored.received_at)
                        if needs_series
                        else 0
                    ),
                    calling_ae=stored.calling_ae,
                    called_ae=stored.called_ae,
                    source=stored.source,
                    received_at=stored.received_at,
                    now=stored.received_at,
                )
                if stored.matched_rules or stored.destinations:
                    actual_matched, actual_destinations = stored.matched_rules, stored.destinations
                else:
                    plan = _plan(current, dataset, ctx)
                    actual_matched, actual_destinations = list(plan.matched), list(plan.destinations)
                new = _plan(replaced, dataset, ctx)
                total += 1
                if sorted(new.matched) != sorted(actual_matched) or sorted(new.destinations) != sorted(
                    actual_destinations
                ):
                    differences.append(
                        ReplayDifference(
                            sop_instance_uid=stored.sop_instance_uid,
                            received_at=stored.received_at,
                            actual_matched=actual_matched,
                            actual_destinations=actual_destinations,
                            candidate_matched=list(new.matched),
                            candidate_destinations=list(new.destinations),
                            candidate_disposition=new.disposition,
                        )
                    )
                if progress is not None:
                    progress(total, max(expected, total))
            session.rollback()
    finally:
        if crosswalks is not None:
            crosswalks.close()
    return ReplayReport(
        ruleset=ruleset_name,
        since=since,
        until=until,
        total=total,
        same=total - len(differences),
        different=len(differences),
        differences=differences,
    )


__all__ = [
    "Progress",
    "ReplayDifference",
    "ReplayInputError",
    "ReplayReport",
    "file_candidate",
    "parse_since",
    "replay",
    "stored_candidate",
]
