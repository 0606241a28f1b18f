"""Source registry: a short alias maps to a lazy ``module:Class``; third parties add kinds through the
``axiom.sources`` entry-point group (as for destinations). The registry itself is
``axiom.plugins.SOURCES``, so stored configuration can be validated below this package."""

from __future__ import annotations

from axiom.plugins import SOURCES, UnknownSourceKind
from axiom.sources.base import RemoteInstance, RemoteStudy, RetrieveResult, Source, SourceError, StudyQuery

ALIASES: dict[str, str] = SOURCES.aliases
ENTRY_POINT_GROUP = SOURCES.group

available_kinds = SOURCES.available
resolve = SOURCES.resolve
config_model = SOURCES.config_model
validate_config = SOURCES.validate_config


__all__ = [
    "ALIASES",
    "RemoteInstance",
    "RemoteStudy",
    "RetrieveResult",
    "Source",
    "SourceError",
    "StudyQuery",
    "UnknownSourceKind",
    "available_kinds",
    "config_model",
    "resolve",
    "validate_config",
]
