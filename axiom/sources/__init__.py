"""Source registry: a short alias maps to a lazy ``module:Class``; third parties add kinds through the
``axiom.sources`` entry-point group (as for destinations)."""

from __future__ import annotations

from axiom.plugins import PluginRegistry
from axiom.sources.base import RemoteInstance, RemoteStudy, RetrieveResult, Source, SourceError, StudyQuery

ALIASES: dict[str, str] = {
    "dicomweb": "axiom.sources.dicomweb:DicomwebSource",
    "healthcare": "axiom.sources.healthcare:HealthcareSource",
    "dimse": "axiom.sources.dimse:DimseSource",
}

ENTRY_POINT_GROUP = "axiom.sources"


class UnknownSourceKind(LookupError):
    pass


_REGISTRY: PluginRegistry[Source] = PluginRegistry(
    "source type", Source, ALIASES, ENTRY_POINT_GROUP, UnknownSourceKind
)
available_kinds = _REGISTRY.available
resolve = _REGISTRY.resolve


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
    "resolve",
]
