"""The source plugin interface: one abstract class, one subclass per kind.

A source only speaks its protocol: find studies, list a study's instances, retrieve some of them.
What to pull (the dedupe ledger, the watermark, limits, the lease, outcomes) is decided once for every
kind by the poll that builds the source. Retrieved instances go to the ingest sink that poll passes
in (``axiom.domain.received.IngestSink``): the same ingest path as a C-STORE arrival, without the
plugin importing the pipeline.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from fnmatch import fnmatchcase
from typing import ClassVar, Generic, TypeVar

from axiom.config import Settings
from axiom.domain.received import IngestSink
from axiom.domain.sources import SourceBase


class SourceError(Exception):
    """The peer could not be asked or did not answer; the message holds no PHI (UIDs, statuses and
    addresses only)."""


@dataclass(frozen=True)
class StudyQuery:
    date_from: date | None  # StudyDate on or after this day; None: any date
    modalities: tuple[str, ...] = ()  # any of these (ModalitiesInStudy); empty: any
    accession_pattern: str | None = None
    limit: int = 500


@dataclass(frozen=True)
class RemoteStudy:
    study_uid: str
    # NumberOfStudyRelatedInstances as the peer reports it; None when it does not say.
    instance_count: int | None = None
    accession_number: str | None = None


def accession_matches(pattern: str | None, accession_number: str | None) -> bool:
    """DICOM wildcard matching (``*`` any run, ``?`` one character) of an AccessionNumber; a study
    whose number the peer did not return is kept (the peer applied the filter)."""
    if pattern is None or accession_number is None:
        return True
    return fnmatchcase(accession_number, pattern.replace("[", "[[]"))


@dataclass(frozen=True)
class RemoteInstance:
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str = ""


@dataclass
class RetrieveResult:
    retrieved: list[str] = field(default_factory=list)  # SOP Instance UIDs now in Axiom's spool
    failed: list[str] = field(default_factory=list)
    error: str | None = None


class RateLimiter:
    """At most ``per_second`` calls of ``wait()`` per second across threads; None: no limit."""

    def __init__(self, per_second: float | None) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


C = TypeVar("C", bound=SourceBase)


class Source(ABC, Generic[C]):
    """Polls one configured peer. One object per poll; methods may run in several threads at once.

    Generic over its kind's config model (``config_model``, beside the plugin): ``self.config`` is
    that model. ``ingest`` takes each retrieved instance and answers its DICOM status."""

    kind: ClassVar[str]
    config_model: ClassVar[type[SourceBase]]

    def __init__(
        self,
        config: C,
        settings: Settings,
        ingest: IngestSink,
        throttle: Callable[[], None] | None = None,
    ) -> None:
        if not isinstance(config, self.config_model):
            raise TypeError(f"a {self.kind} source takes a {self.config_model.__name__}")
        self.config: C = config
        self.settings = settings
        self.ingest = ingest
        # Called before each retrieve request: the source's rate limit.
        self.throttle = throttle or (lambda: None)

    @property
    def name(self) -> str:
        return str(self.config.name)

    @abstractmethod
    def find_studies(self, query: StudyQuery) -> list[RemoteStudy]:
        """The peer's studies matching ``query``; raise SourceError when the peer cannot be asked."""

    @abstractmethod
    def list_instances(self, study_uid: str) -> list[RemoteInstance]:
        """Every instance the peer holds of the study."""

    @abstractmethod
    def retrieve(
        self, study_uid: str, instances: list[RemoteInstance], *, whole_study: bool
    ) -> RetrieveResult:
        """Bring ``instances`` of the study into Axiom (``whole_study``: they are all it has, so one
        study-level request may fetch them)."""

    def close(self) -> None:
        """Release connections held during the poll."""
