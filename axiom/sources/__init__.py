"""Source registry: a short alias maps to a lazy ``module:Class``; third parties add kinds through the
``axiom.sources`` entry-point group (as for destinations)."""

from __future__ import annotations

import difflib
from importlib import import_module
from importlib.metadata import entry_points

from axiom.sources.base import RemoteInstance, RemoteStudy, RetrieveResult, Source, SourceError, StudyQuery

ALIASES: dict[str, str] = {
    "dicomweb": "axiom.sources.dicomweb:DicomwebSource",
    "healthcare": "axiom.sources.healthcare:HealthcareSource",
    "dimse": "axiom.sources.dimse:DimseSource",
}

ENTRY_POINT_GROUP = "axiom.sources"


class UnknownSourceKind(LookupError):
    pass


def available_kinds() -> dict[str, str]:
    kinds = dict(ALIASES)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        kinds.setdefault(ep.name, ep.value)
    return kinds


def resolve(kind: str) -> type[Source]:
    kinds = available_kinds()
    try:
        target = kinds[kind]
    except KeyError:
        close = difflib.get_close_matches(kind, kinds, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(kinds))}"
        raise UnknownSourceKind(f"unknown source type {kind!r}{hint}") from None
    module_name, _, attr = target.partition(":")
    cls = getattr(import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        raise TypeError(f"{target} is not a Source subclass")
    return cls


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
