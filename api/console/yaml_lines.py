"""Where in the text a YAML editor holds a problem is: the line of the node a field path such as
``rules[1].when.tag`` names, so the console can show the validation message at that line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from axiom.admin.apply_config import ConfigFileError

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Problem:
    line: int | None  # 1-based
    field: str
    message: str


def _steps(path: str) -> list[str | int]:
    return [int(index) if index else name for name, index in _STEP.findall(path)]


def line_of(text: str, path: str) -> int | None:
    """The 1-based line of the deepest node of ``path`` that exists in ``text``."""
    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for step in _steps(path):
        child = None
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            child = next((v for k, v in node.value if getattr(k, "value", None) == step), None)
            key = next((k for k, _ in node.value if getattr(k, "value", None) == step), None)
            if key is not None:
                line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            child = node.value[step]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def parse(text: str) -> tuple[Any, list[Problem]]:
    """The YAML's data, or the syntax error with its line."""
    try:
        return yaml.safe_load(text), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return None, [Problem(line, "", f"YAML syntax: {getattr(exc, 'problem', None) or exc}")]


def problems(text: str, error: ConfigFileError, prefix: str = "") -> list[Problem]:
    out = []
    for where, why in error.problems:
        field = where[len(prefix) :].lstrip(".") if prefix and where.startswith(prefix) else where
        out.append(Problem(line_of(text, field) if field else None, field, why))
    return out
