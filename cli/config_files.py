"""What ``axiom apply|diff -f`` reads: a file, ``-`` (standard input) or a folder of ``*.yaml`` files,
merged into one configuration (each kind's lists concatenated, in file-name order)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from axiom.domain.config_file import ConfigFile

# Kinds in the order a remote apply sends them (a ruleset names destinations, crosswalks and sources).
KINDS = ("destinations", "crosswalks", "sources", "peers", "rulesets")
# `axiom get|delete KIND`: the names people type, to the config file's key.
KIND_NAMES = {
    "destination": "destinations",
    "destinations": "destinations",
    "rule": "rulesets",
    "rules": "rulesets",
    "ruleset": "rulesets",
    "rulesets": "rulesets",
    "crosswalk": "crosswalks",
    "crosswalks": "crosswalks",
    "source": "sources",
    "sources": "sources",
    "peer": "peers",
    "peers": "peers",
}


class UnknownKind(ValueError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown kind {kind!r}; use one of {', '.join(sorted(set(KIND_NAMES.values())))}")


def kind_key(kind: str) -> str:
    try:
        return KIND_NAMES[kind.lower()]
    except KeyError:
        raise UnknownKind(kind) from None


def read_config(source: str) -> ConfigFile:
    """``source`` is a file, ``-`` or a folder; ConfigFileError names the file, field and reason."""
    import yaml

    from axiom.admin.apply_config import ConfigFileError, load_config_file, parse_config

    if source == "-":
        try:
            data = yaml.safe_load(sys.stdin.read()) or {}
        except yaml.YAMLError as exc:
            raise ConfigFileError("<stdin>", [("", f"YAML syntax error: {exc}")]) from None
        if not isinstance(data, dict):
            raise ConfigFileError("<stdin>", [("", "the top level must be a mapping")])
        return parse_config(data, source="<stdin>").with_paths_from(Path.cwd())
    path = Path(source)
    if not path.is_dir():
        return load_config_file(path)
    files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    if not files:
        raise ConfigFileError(str(path), [("", "the folder holds no *.yaml or *.yml file")])
    from axiom.db.repositories.config import dump_model

    parts = [load_config_file(f) for f in files]  # each file's errors name that file
    # Validated again as one configuration (names unique across files, rules' destinations known).
    merged = {kind: [dump_model(item) for part in parts for item in getattr(part, kind)] for kind in KINDS}
    return parse_config(merged, source=str(path))


def file_items(config: ConfigFile) -> dict[str, dict[str, dict[str, Any]]]:
    """The configuration's items by kind and name, in the stored file form (as ``axiom get`` shows)."""
    from axiom.db.repositories.config import dump_model

    return {
        kind: {item.name: dump_model(item) for item in getattr(config, kind)}
        for kind in KINDS
        if getattr(config, kind)
    }
