"""Destination registry: a short alias maps to a lazy ``module:Class``; third parties add kinds through
the ``axiom.destinations`` entry-point group (as kombu does for transports). The registry itself is
``axiom.plugins.DESTINATIONS``, so stored configuration can be validated below this package."""

from __future__ import annotations

from axiom.destinations.base import CheckOutcome, DeliveryError, DeliveryResult, Destination
from axiom.plugins import DESTINATIONS, UnknownDestinationKind

ALIASES: dict[str, str] = DESTINATIONS.aliases
ENTRY_POINT_GROUP = DESTINATIONS.group

available_kinds = DESTINATIONS.available
resolve = DESTINATIONS.resolve
config_model = DESTINATIONS.config_model
validate_config = DESTINATIONS.validate_config


__all__ = [
    "ALIASES",
    "CheckOutcome",
    "DeliveryError",
    "DeliveryResult",
    "Destination",
    "UnknownDestinationKind",
    "available_kinds",
    "config_model",
    "resolve",
    "validate_config",
]
