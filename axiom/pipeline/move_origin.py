"""Which DIMSE source a C-MOVE arrival belongs to, so it is ingested under the source's name.

A PACS answering a source's C-MOVE sends the instances to the listener in C-STORE requests that carry
the Move Originator AE Title (the AE that asked: the source's ``calling_ae_title``), on an
association the PACS opens under its own AE title (the source's ``ae_title``). That pair names the
source; a pair that fits no source, or more than one, leaves the arrival the listener's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog
from sqlalchemy.orm import Session

from axiom.db.repositories.sources import load_source_configs
from axiom.sources.dimse import DimseSourceConfig

log = structlog.get_logger("axiom.listener")

# The sources table is read again at most this often (a listener handles many stores a second).
REFRESH_SECONDS = 10.0
_AMBIGUOUS = ""


def move_source_map(configs: list[DimseSourceConfig]) -> dict[tuple[str, str], str]:
    """(move originator AE, peer AE) -> source name, for sources that retrieve with C-MOVE.

    Two sources sharing a pair map to "" (ambiguous: the arrival stays the listener's)."""
    found: dict[tuple[str, str], str] = {}
    for config in configs:
        if config.retrieve != "move":
            continue
        key = (config.calling_ae_title.strip(), config.ae_title.strip())
        found[key] = _AMBIGUOUS if key in found else config.name
    return found


class MoveSources:
    """The listener's view of the C-MOVE sources, refreshed from the database now and then."""

    def __init__(self, sessions: Callable[[], Session], refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.sessions = sessions
        self.refresh_seconds = refresh_seconds
        self._map: dict[tuple[str, str], str] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def _current(self) -> dict[tuple[str, str], str]:
        with self._lock:
            if time.monotonic() - self._loaded_at >= self.refresh_seconds:
                try:
                    with self.sessions() as session:
                        configs = load_source_configs(session, enabled_only=True).values()
                    self._map = move_source_map([c for c in configs if isinstance(c, DimseSourceConfig)])
                except Exception as exc:  # the database may blip: keep the last map, retry later
                    log.warning("C-MOVE sources not refreshed", error=type(exc).__name__)
                self._loaded_at = time.monotonic()
            return self._map

    def source_for(self, move_originator: str, peer_ae: str) -> str | None:
        """The source whose C-MOVE this arrival answers, or None (not a C-MOVE, or no single fit)."""
        if not move_originator:
            return None
        return self._current().get((move_originator.strip(), peer_ae.strip())) or None
