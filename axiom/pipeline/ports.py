"""Interfaces the core needs from the outside world; the roles plug implementations in."""

from __future__ import annotations

from typing import Protocol

from axiom.domain.messages import InstanceMessage


class PublishError(Exception):
    """The broker did not confirm the message: the instance must not be acknowledged."""


class TaskPublisher(Protocol):
    def publish_instance(self, message: InstanceMessage) -> None:
        """Publish a process-instance task and return only once the broker has confirmed it."""
        ...
