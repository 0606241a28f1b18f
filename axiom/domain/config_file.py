"""The configuration file ``axiom apply`` reads: destinations, rulesets, crosswalks, sources and
known peers, checked as a whole."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_validator
from pydantic_core import PydanticCustomError

from axiom.domain.crosswalks import CrosswalkConfig
from axiom.domain.destinations import DestinationConfig
from axiom.domain.peers import PeerConfig
from axiom.domain.sources import SourceConfig
from rules.model import Ruleset


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    destinations: list[DestinationConfig] = []
    rulesets: list[Ruleset] = []
    crosswalks: list[CrosswalkConfig] = []
    sources: list[SourceConfig] = []
    peers: list[PeerConfig] = []
    # Where the configuration came from (a file path), so later errors can name it.
    _source: str = PrivateAttr(default="<config>")

    @property
    def source(self) -> str:
        return self._source

    def with_source(self, source: str) -> ConfigFile:
        self._source = source
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> ConfigFile:
        problems = [
            *_repeats("destinations", [d.name for d in self.destinations], "destination"),
            *_repeats("rulesets", [r.name for r in self.rulesets], "ruleset"),
            *_repeats("crosswalks", [c.name for c in self.crosswalks], "crosswalk"),
            *_repeats("sources", [s.name for s in self.sources], "source"),
            *_repeats("peers", [p.name for p in self.peers], "peer"),
        ]
        if problems:
            # One error naming every clash by its path, as ``ConfigFileError`` prints field errors.
            raise PydanticCustomError("duplicate_name", "{problems}", {"problems": "; ".join(problems)})
        return self

    def with_paths_from(self, base_dir: Path) -> ConfigFile:
        """Relative CSV paths made absolute against ``base_dir`` (the config file's folder), so
        every worker reads the same file whatever its working directory."""
        resolved = [crosswalk.resolved(base_dir) for crosswalk in self.crosswalks]
        return self.model_copy(update={"crosswalks": resolved}).with_source(self.source)

    def destination_names(self) -> set[str]:
        return {d.name for d in self.destinations}

    def undefined_destinations(self, known: Iterable[str] = ()) -> list[tuple[str, str]]:
        """``(field path, reason)`` for each rule destination defined neither here nor in ``known``."""
        defined = self.destination_names() | set(known)
        problems: list[tuple[str, str]] = []
        for i, ruleset in enumerate(self.rulesets):
            for j, rule in enumerate(ruleset.rules):
                for k, name in enumerate(rule.destinations):
                    if name not in defined:
                        problems.append(
                            (
                                f"rulesets[{i}].rules[{j}].destinations[{k}]",
                                f"destination {name!r} is defined neither in this file nor in the database",
                            )
                        )
        return problems


def _repeats(field: str, names: list[str], kind: str) -> list[str]:
    counts = Counter(names)
    return [
        f"{field}[{index}].name: {kind} name {name!r} is used more than once"
        for index, name in enumerate(names)
        if counts[name] > 1 and names.index(name) != index
    ]
