"""Destination registry: a short alias maps to a lazy ``module:Class``; third parties add kinds through
the ``axiom.destinations`` entry-point group (as kombu does for transports)."""

from __future__ import annotations

from axiom.destinations.base import DeliveryError, DeliveryResult, Destination
from axiom.plugins import PluginRegistry

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


_REGISTRY: PluginRegistry[Destination] = PluginRegistry(
    "destination type", Destination, ALIASES, ENTRY_POINT_GROUP, UnknownDestinationKind
)
available_kinds = _REGISTRY.available
resolve = _REGISTRY.resolve


__all__ = [
    "ALIASES",
    "DeliveryError",
    "DeliveryResult",
    "Destination",
    "UnknownDestinationKind",
    "available_kinds",
    "resolve",
]
