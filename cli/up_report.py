"""What ``axiom up`` prints after its banner: one line per study received and per study delivered to a
destination, and every failure as it happens. Everything else (Celery, kombu, warnings, the roles'
own logs) goes to the log file under the data dir.

The lines come from the live events (axiom/infra/events.py). An event names an instance; its study
is looked up once the instance row exists (the worker writes it before routing), and a study's line
is printed once it has been quiet for ``QUIET_SECONDS``, so a study of many instances is one line.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from axiom.db.models import DicomInstance, DicomSeries, DicomStudy

QUIET_SECONDS = 2.0
# An instance whose row never shows up (its routing failed early) is reported without its study.
LOOKUP_GIVE_UP_SECONDS = 30.0


@dataclass
class _Tally:
    instances: set[str] = field(default_factory=set)
    origins: set[str] = field(default_factory=set)
    last: float = 0.0


@dataclass
class _Waiting:
    kind: str  # "received" or a destination name
    sop_instance_uid: str
    since: float


class StudyReport:
    """Feed it events; ``flush`` returns the lines that are due."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.clock = clock
        self._waiting: list[_Waiting] = []
        self._studies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
        self._lines: list[str] = []

    def feed(self, events: list[dict[str, Any]]) -> None:
        now = self.clock()
        for event in events:
            kind = event.get("event")
            sop = str(event.get("sop_instance_uid") or "")
            if kind == "instance.routed":
                self._waiting.append(_Waiting("received", sop, now))
            elif kind == "instance.delivered":
                self._waiting.append(_Waiting(str(event.get("destination")), sop, now))
            elif kind == "instance.failed":
                self._lines.append(_failure(event))

    def flush(self) -> list[str]:
        now = self.clock()
        self._resolve(now)
        for (kind, study), tally in list(self._studies.items()):
            if now - tally.last >= QUIET_SECONDS:
                del self._studies[(kind, study)]
                self._lines.append(_study_line(kind, study, tally))
        lines, self._lines = self._lines, []
        return lines

    def _resolve(self, now: float) -> None:
        if not self._waiting:
            return
        sops = {w.sop_instance_uid for w in self._waiting}
        query = (
            select(DicomInstance.sop_instance_uid, DicomStudy.study_instance_uid, DicomInstance.calling_ae)
            .join(DicomSeries, DicomInstance.series_id == DicomSeries.id)
            .join(DicomStudy, DicomSeries.study_id == DicomStudy.id)
            .where(DicomInstance.sop_instance_uid.in_(sops))
        )
        with self.engine.connect() as conn:
            found = {sop: (study, ae or "") for sop, study, ae in conn.execute(query)}
        still: list[_Waiting] = []
        for wait in self._waiting:
            if wait.sop_instance_uid in found:
                study, origin = found[wait.sop_instance_uid]
            elif now - wait.since > LOOKUP_GIVE_UP_SECONDS:
                study, origin = f"(unknown, instance {wait.sop_instance_uid})", ""
            else:
                still.append(wait)
                continue
            tally = self._studies[(wait.kind, study)]
            tally.instances.add(wait.sop_instance_uid)
            if origin:
                tally.origins.add(origin)
            tally.last = now
        self._waiting = still


def _count(n: int) -> str:
    return f"{n} instance{'s' if n != 1 else ''}"


def _study_line(kind: str, study: str, tally: _Tally) -> str:
    if kind == "received":
        origin = f" from {', '.join(sorted(tally.origins))}" if tally.origins else ""
        return f"received   study {study}: {_count(len(tally.instances))}{origin}"
    return f"delivered  study {study} to {kind}: {_count(len(tally.instances))}"


def _failure(event: dict[str, Any]) -> str:
    where = event.get("destination") or event.get("stage") or "?"
    why = event.get("error") or event.get("status") or "failed"
    return f"FAILED     instance {event.get('sop_instance_uid') or '?'} at {where}: {why}"
