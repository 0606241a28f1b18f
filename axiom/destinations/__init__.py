"""Destination registry: a short alias maps to a lazy ``module:Class``; third parties add kinds through
the ``axiom.destinations`` entry-point group (as kombu does for transports)."""

from __future__ import annotations

import difflib
from importlib import import_module
from importlib.metadata import entry_points

from axiom.destinations.base import DeliveryError, DeliveryResult, Destination

ALIASES: dict[str, str] = {
    "filesystem": "axiom.destinations.filesystem:FilesystemDestination",
    "cstore": "axiom.destinations.cstore:CStoreDestination",
    "stowrs": "axiom.destinations.stowrs:STOWRSDestination",
    "gcs": "axiom.destinations.gcs:GCSDestination",
    "healthcare": "axiom.destinations.healthcare:HealthcareDestination",
}

ENTRY_POINT_GROUP = "axiom.destinations"


class UnknownDestinationKind(LookupError):
    pass


def available_kinds() -> dict[str, str]:
    kinds = dict(ALIASES)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        kinds.setdefault(ep.name, ep.value)
    return kinds


def resolve(kind: str) -> type[Destination]:
    kinds = available_kinds()
    try:
        target = kinds[kind]
    except KeyError:
        close = difflib.get_close_matches(kind, kinds, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(kinds))}"
        raise UnknownDestinationKind(f"unknown destination type {kind!r}{hint}") from None
    module_name, _, attr = target.partition(":")
    cls = getattr(import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Destination)):
        raise TypeError(f"{target} is not a Destination subclass")
    return cls


__all__ = [
    "ALIASES",
    "DeliveryError",
    "DeliveryResult",
    "Destination",
    "UnknownDestinationKind",
    "available_kinds",
    "resolve",
]
