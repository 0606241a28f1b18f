"""The API's side of ingest (STOW-RS): the spool, a Celery publisher and the refusal log, as the
listener has them (cli/roles.py), built once on first use so the app starts without a broker."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from axiom.config import Settings
from axiom.db.session import create_db_engine, make_session_factory
from axiom.dicom.spool import ingest_spool
from axiom.infra.events import make_events
from axiom.pipeline.ingest import IngestPorts, RefusalLog
from axiom.pipeline.ports import TaskPublisher

if TYPE_CHECKING:
    from celery import Celery


class IngestPortsFactory:
    def __init__(self, settings: Settings, publisher: TaskPublisher | None = None) -> None:
        self.settings = settings
        self.publisher = publisher
        # Built now, not lazily: /ready reports its free-space state before any STOW-RS request.
        self.spool = ingest_spool(settings)
        self._ports: IngestPorts | None = None
        self._celery: Celery | None = None
        self._lock = threading.Lock()

    def celery(self) -> Celery:
        """The Celery app (for publishing and for pinging workers), built once."""
        with self._lock:
            if self._celery is None:
                from workers.celery_app import create_app

                self._celery = create_app(self.settings)
            return self._celery

    def __call__(self) -> IngestPorts:
        with self._lock:
            ports = self._ports
        if ports is None:
            ports = self._build()
            with self._lock:
                self._ports = self._ports or ports
                ports = self._ports
        return ports

    def _build(self) -> IngestPorts:
        settings = self.settings
        publisher = self.publisher
        if publisher is None:
            from workers.publisher import CeleryPublisher

            publisher = CeleryPublisher(self.celery())
        sessions = make_session_factory(create_db_engine(settings.effective_database_url))
        return IngestPorts(
            self.spool,
            publisher,
            RefusalLog(sessions, source="stowrs"),
            make_events(settings),
        )
