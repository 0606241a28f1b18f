"""Per-process state a worker keeps between tasks: the DB engine, and the configuration it caches.

Rules and destinations are reloaded only when ``config_state.version`` moves, so a task costs one
small query for them instead of reading every ruleset.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from axiom import destinations
from axiom.config import Settings
from axiom.db.repositories import config as config_repo
from axiom.db.session import create_db_engine, make_session_factory
from axiom.destinations.base import Destination
from axiom.domain.destinations import DestinationConfig
from axiom.domain.messages import InstanceMessage
from axiom.infra.anon_secret import deployment_secret, patient_id_hash
from axiom.infra.delivery_guard import make_guard
from axiom.infra.events import EventSink, make_events
from axiom.pipeline.crosswalk_lookup import CrosswalkLookup
from rules.model import AnalyzeAction, AnonymizeAction, InferAction, InferSpec, Ruleset, StandardizeAction

if TYPE_CHECKING:
    from pydicom import Dataset

    from axiom.ai.inference import InferenceEngine
    from axiom.ai.llm import CallHook
    from axiom.ai.tags import TagStandardizer
    from axiom.ai.vertex import GeminiAnalyzer

# Hands an instance to the gpu queue with the models to run; the worker role plugs it in.
InferenceDispatch = Callable[[InstanceMessage, list[InferSpec]], None]
# Publishes an instance for routing again (with its inference results now stored).
Reroute = Callable[[InstanceMessage], None]


@dataclass
class ConfigSnapshot:
    version: int
    rulesets: list[Ruleset]
    destination_configs: dict[str, DestinationConfig]
    # Whether any rule reads the series count, which costs the worker a query per instance.
    needs_series_count: bool = False
    # Whether any rule anonymizes: only then is the deployment secret read (or generated).
    needs_anon_secret: bool = False
    # Whether any rule runs a model or reads a result: only then are stored results read per instance.
    needs_inference: bool = False
    # Tags some `standardize` action asks for: only these descriptions are sent to the language model.
    standardize_tags: frozenset[str] = frozenset()
    destinations: dict[str, Destination] = field(default_factory=dict)


def _reads_series_count(ruleset: Ruleset) -> bool:
    return '"series_instance_count"' in ruleset.model_dump_json(by_alias=True)


def _uses_inference(ruleset: Ruleset) -> bool:
    kinds = (InferAction, AnalyzeAction)
    if any(isinstance(action, kinds) for rule in ruleset.rules for action in rule.actions):
        return True
    return '"inference"' in ruleset.model_dump_json(by_alias=True)


def _standardized_tags(ruleset: Ruleset) -> set[str]:
    return {
        tag
        for rule in ruleset.rules
        for action in rule.actions
        if isinstance(action, StandardizeAction)
        for tag in action.standardize.tags
    }


def _anonymizes(ruleset: Ruleset) -> bool:
    return any(isinstance(action, AnonymizeAction) for rule in ruleset.rules for action in rule.actions)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        dispatch_inference: InferenceDispatch | None = None,
        reroute: Reroute | None = None,
        make_analyzer: Callable[[CallHook], GeminiAnalyzer] | None = None,
    ) -> None:
        """Built complete by its role's composition root (workers/runtime.py): nothing is patched
        in afterwards."""
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
        self._anon_secret: str | None = None
        self._inference: InferenceEngine | None = None
        self._standardizer: TagStandardizer | None = None
        # The gpu worker's task threads share this Runtime: its models are created once.
        self._ai_lock = threading.Lock()
        # None: models run inline in route_instance (tests, tools). The worker role sends them to the
        # gpu queue instead, and that queue's worker publishes the instance for routing again.
        self.dispatch_inference = dispatch_inference
        self.reroute = reroute
        # Builds the Vertex AI analyzer for `analyze` actions, with the hook that audits each call;
        # tests point it at a local server.
        self.make_analyzer: Callable[[CallHook], GeminiAnalyzer] = make_analyzer or self._gemini_analyzer

    def _gemini_analyzer(self, on_call: CallHook) -> GeminiAnalyzer:
        from axiom.ai.language_models import gemini_analyzer

        return gemini_analyzer(self.settings, on_call)

    def standardizer(self) -> TagStandardizer:
        """The tag standardizer (language model + cache), created on first use; ValueError if unset."""
        with self._ai_lock:
            if self._standardizer is None:
                from axiom.ai.language_models import standardizer

                self._standardizer = standardizer(self.settings)
            return self._standardizer

    def inference(self) -> InferenceEngine:
        """This process's models and micro-batchers, created on first use."""
        with self._ai_lock:
            if self._inference is None:
                from axiom.ai.inference import InferenceEngine
                from axiom.ai.registry import process_registry

                self._inference = InferenceEngine(
                    process_registry(self.settings.ai_models_path, self.settings.ai_models_gcs),
                    max_batch=self.settings.ai_batch_size,
                    max_wait_ms=self.settings.ai_batch_wait_ms,
                )
            return self._inference

    def anon_secret(self, snapshot: ConfigSnapshot) -> str:
        """The deployment secret when a rule anonymizes (read or generated once), else empty."""
        if not snapshot.needs_anon_secret:
            return ""
        return self._deployment_secret()

    def _deployment_secret(self) -> str:
        if self._anon_secret is None:
            self._anon_secret = deployment_secret(self.settings)
        return self._anon_secret

    def patient_id_hash(self, dataset: Dataset) -> str | None:
        """The dataset's PatientID as stored: an HMAC keyed with the deployment secret."""
        return patient_id_hash(self._deployment_secret(), str(dataset.get("PatientID", "") or ""))

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
                    needs_anon_secret=any(_anonymizes(r) for r in rulesets),
                    needs_inference=any(_uses_inference(r) for r in rulesets),
                    standardize_tags=frozenset().union(*(_standardized_tags(r) for r in rulesets)),
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
