"""Plugin registries, as kombu does for transports: a short alias maps to a lazy ``module:Class``,
third parties add kinds through an entry-point group, and an unknown name fails with "did you mean".
Destinations, sources and model runtimes each keep one."""

from __future__ import annotations

import difflib
from importlib import import_module
from importlib.metadata import entry_points
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class PluginRegistry(Generic[T]):
    # ``base`` is typed ``type``: the bases are abstract classes, which ``type[T]`` would refuse.
    def __init__(
        self, what: str, base: type, aliases: dict[str, str], group: str, unknown: type[LookupError]
    ) -> None:
        self.what = what  # "destination type", for messages
        self.base = base
        self.aliases = aliases  # kept by reference: an alias added to it later is seen
        self.group = group
        self.unknown = unknown

    def available(self) -> dict[str, str]:
        """Every kind, built-in aliases first, then the entry points that do not shadow one."""
        kinds = dict(self.aliases)
        for ep in entry_points(group=self.group):
            kinds.setdefault(ep.name, ep.value)
        return kinds

    def resolve(self, kind: str) -> type[T]:
        kinds = self.available()
        try:
            target = kinds[kind]
        except KeyError:
            close = difflib.get_close_matches(kind, kinds, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(kinds))}"
            raise self.unknown(f"unknown {self.what} {kind!r}{hint}") from None
        module_name, _, attr = target.partition(":")
        cls = getattr(import_module(module_name), attr)
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise TypeError(f"{target} is not a {self.base.__name__} subclass")
        return cast(type[T], cls)
