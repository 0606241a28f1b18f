"""The destination plugin interface: one abstract class, one subclass per kind."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

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


@dataclass(frozen=True)
class CheckOutcome:
    """What the console's "test" button shows: whether the destination answered, and what it said.
    The message quotes no credential and no PHI."""

    ok: bool
    message: str


C = TypeVar("C", bound=DestinationBase)


class Destination(ABC, Generic[C]):
    """Delivers instances to one configured place. One object per destination and worker process.

    Generic over its kind's config model (``config_model``, a ``DestinationBase`` subclass beside
    the plugin), so ``self.config`` is that model: no second copy, no isinstance checks."""

    kind: ClassVar[str]
    config_model: ClassVar[type[DestinationBase]]
    # Capabilities read by the dispatcher, so it never needs isinstance checks.
    supports_batch: ClassVar[bool] = False

    def __init__(self, config: C, settings: Settings) -> None:
        if not isinstance(config, self.config_model):
            raise TypeError(f"a {self.kind} destination takes a {self.config_model.__name__}")
        self.config: C = config
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

    def check(self) -> CheckOutcome:
        """Test the destination without sending an image (the console's "test" button): a kind
        that can ask its peer something harmless overrides this."""
        return CheckOutcome(
            False, f"testing a {self.kind} destination is not supported; send a dry-run instance instead"
        )

    def close(self) -> None:
        """Release connections held between sends."""
