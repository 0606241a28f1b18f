"""The API's side of ingest (STOW-RS): the spool, a Celery publisher and the refusal log, as the
listener has them (cli/roles.py), built once on first use so the app starts without a broker."""

from __future__ import annotations

import threading

from axiom.config import Settings
from axiom.db.session import create_db_engine, make_session_factory
from axiom.dicom.spool import Spool
from axiom.services.events import make_events
from axiom.services.ingest import IngestPorts, RefusalLog
from axiom.services.ports import TaskPublisher


class IngestPortsFactory:
    def __init__(self, settings: Settings, publisher: TaskPublisher | None = None) -> None:
        self.settings = settings
        self.publisher = publisher
        self._ports: IngestPorts | None = None
        self._lock = threading.Lock()

    def __call__(self) -> IngestPorts:
        with self._lock:
            if self._ports is None:
                self._ports = self._build()
            return self._ports

    def _build(self) -> IngestPorts:
        settings = self.settings
        publisher = self.publisher
        if publisher is None:
            from workers.celery_app import create_app
            from workers.publisher import CeleryPublisher

            publisher = CeleryPublisher(create_app(settings))
        sessions = make_session_factory(create_db_engine(settings.effective_database_url))
        return IngestPorts(
            Spool(settings.spool_dir, settings.quarantine_dir, fsync=settings.spool_fsync),
            publisher,
            RefusalLog(sessions, source="stowrs"),
            make_events(settings),
        )
