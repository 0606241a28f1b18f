"""Per-process state a worker keeps between tasks: the DB engine, and the configuration it caches.

Rules and destinations are reloaded only when ``config_state.version`` moves, so a task costs one
small query for them instead of reading every ruleset.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from axiom import destinations
from axiom.config import Settings
from axiom.db.repositories import config as config_repo
from axiom.db.session import create_db_engine, make_session_factory
from axiom.destinations.base import Destination
from axiom.domain.destinations import DestinationConfig
from axiom.services.crosswalk_lookup import CrosswalkLookup
from axiom.services.delivery_guard import make_guard
from axiom.services.events import EventSink, make_events
from rules.model import Ruleset


@dataclass
class ConfigSnapshot:
    version: int
    rulesets: list[Ruleset]
    destination_configs: dict[str, DestinationConfig]
    # Whether any rule reads the series count, which costs the worker a query per instance.
    needs_series_count: bool = False
    destinations: dict[str, Destination] = field(default_factory=dict)


def _reads_series_count(ruleset: Ruleset) -> bool:
    return '"series_instance_count"' in ruleset.model_dump_json(by_alias=True)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_db_engine(settings.effective_database_url)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)
        # Crosswalk tables for the rules' lookups, cached (Redis or in-process) by table generation.
        self.crosswalks = CrosswalkLookup.from_settings(settings, self.sessions)
        # Circuit breakers, concurrency caps and rate limits per destination, shared via Redis if set.
        self.guard = make_guard(settings.cache_url)
        # Live events for the monitoring WebSocket (Redis pub/sub, or the events file).
        self.events: EventSink = make_events(settings)
        self._snapshot: ConfigSnapshot | None = None
        self._checked_at = 0.0

    def config(self) -> ConfigSnapshot:
        """The current rules and destinations; the version is checked at most every config_check_seconds."""
        now = time.monotonic()
        if self._snapshot is not None and now - self._checked_at < self.settings.config_check_seconds:
            return self._snapshot
        with self.sessions() as session:
            version = config_repo.config_version(session)
            if self._snapshot is None or self._snapshot.version != version:
                self._close_destinations()
                rulesets = config_repo.load_active_rulesets(session)
                self._snapshot = ConfigSnapshot(
                    version=version,
                    rulesets=rulesets,
                    destination_configs=dict(config_repo.load_destination_configs(session)),
                    needs_series_count=any(_reads_series_count(r) for r in rulesets),
                )
        self._checked_at = now
        return self._snapshot

    def destination(self, snapshot: ConfigSnapshot, name: str) -> Destination:
        """The destination object for ``name``; KeyError when no such destination is configured."""
        dest = snapshot.destinations.get(name)
        if dest is None:
            config = snapshot.destination_configs[name]
            cls = destinations.resolve(str(config.type))
            dest = snapshot.destinations[name] = cls(config, self.settings)
        return dest

    def _close_destinations(self) -> None:
        if self._snapshot is not None:
            for dest in self._snapshot.destinations.values():
                dest.close()

    def close(self) -> None:
        self._close_destinations()
        self.guard.close()
        self.engine.dispose()
