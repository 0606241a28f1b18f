"""The destination plugin interface: one abstract class, one subclass per kind."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from axiom.config import Settings
from axiom.domain.destinations import DestinationBase
from axiom.domain.instances import OutgoingInstance


class DeliveryError(Exception):
    """A delivery that did not happen. ``transient`` failures are retried; permanent ones are not.

    The message must hold no PHI: UIDs, status codes and peer addresses only.
    """

    def __init__(self, message: str, *, transient: bool, code: str = "") -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


# One instance's outcome in a batch: where it went, or why it did not.
DeliveryResult = str | DeliveryError


class Destination(ABC):
    """Delivers instances to one configured place. One object per destination and worker process."""

    kind: ClassVar[str]
    config_model: ClassVar[type[DestinationBase]]
    # Capabilities read by the dispatcher, so it never needs isinstance checks.
    supports_batch: ClassVar[bool] = False

    def __init__(self, config: DestinationBase, settings: Settings) -> None:
        self.config = config
        self.settings = settings

    @property
    def name(self) -> str:
        return str(self.config.name)

    @abstractmethod
    def send(self, instance: OutgoingInstance) -> str:
        """Deliver one instance; return where it went (a path or a peer). Raise DeliveryError."""

    def send_batch(self, instances: Sequence[OutgoingInstance]) -> list[DeliveryResult]:
        """Deliver several instances; one result per instance, in the same order.

        Never raises DeliveryError: each instance's failure is its own result, so a partly failed
        batch retries only what failed. This default sends one at a time; kinds with
        ``supports_batch`` send fewer, larger requests.
        """
        results: list[DeliveryResult] = []
        for instance in instances:
            try:
                results.append(self.send(instance))
            except DeliveryError as exc:
                results.append(exc)
        return results

    def close(self) -> None:  # noqa: B027 - optional hook, most destinations hold nothing open
        """Release connections held between sends."""
