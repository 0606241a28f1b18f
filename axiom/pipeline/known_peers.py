"""The listener's view of the known peers (``peers:`` applied with ``axiom apply``), read from the
database at most every few seconds so a changed list takes effect without a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog
from sqlalchemy.orm import Session

from axiom.db.repositories.peers import load_peer_configs
from axiom.domain.peers import PeerConfig

log = structlog.get_logger("axiom.listener")

REFRESH_SECONDS = 5.0


class KnownPeers:
    def __init__(self, sessions: Callable[[], Session], refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.sessions = sessions
        self.refresh_seconds = refresh_seconds
        self._peers: tuple[PeerConfig, ...] = ()
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def __call__(self) -> tuple[PeerConfig, ...]:
        with self._lock:
            if time.monotonic() - self._loaded_at >= self.refresh_seconds:
                try:
                    with self.sessions() as session:
                        self._peers = tuple(load_peer_configs(session, enabled_only=True).values())
                except Exception as exc:  # the database may blip: keep the last list, retry later
                    log.warning("known peers not refreshed", error=type(exc).__name__)
                self._loaded_at = time.monotonic()
            return self._peers
