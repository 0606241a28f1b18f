"""Completion for the console's YAML editors (a ruleset, a destination): the keys
``docs/config.schema.json`` allows at the cursor's line, found from the YAML's indentation above it
(which need not parse yet: the user is typing), and on a ``key: value`` line the values the schema
lists for that key (its ``enum``, or each branch's ``const``, as a destination's ``type``)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from axiom.admin.config_schema import config_schema

_KEY = re.compile(r"^(\s*)(-\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*:")
_ITEM = re.compile(r"^(\s*)-(\s|$)")
_VALUE = re.compile(r"^\s*(?:-\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*:[ \t]*([^\s#'\"\[{]*)\s*$")
# Which part of the configuration file each editor holds: one item of this top-level list.
SECTIONS = ("rulesets", "destinations")
Step = str | None  # a mapping key, or None for "an item of this list"


@cache
def _schema() -> dict[str, Any]:
    """The schema of this installation's kinds, built once per process (plugins load at start)."""
    return config_schema()


def path_at(text: str, line: int) -> list[Step]:
    """The steps from the ruleset's root to the mapping the 1-based ``line`` types into."""
    lines = text.splitlines()
    current = lines[line - 1] if 0 < line <= len(lines) else ""
    indent = len(current) - len(current.lstrip(" "))
    steps: list[Step] = []
    if _ITEM.match(current):
        steps.append(None)  # typing the first key of a new list item
    for above in reversed(lines[: max(line - 1, 0)]):
        if not above.strip() or above.lstrip().startswith("#"):
            continue
        found = _KEY.match(above)
        item = _ITEM.match(above)
        own = len(above) - len(above.lstrip(" "))
        if found is not None:
            key_indent = own + (len(found.group(2)) if found.group(2) else 0)
            if key_indent < indent:
                steps.append(found.group(3))
                if found.group(2):
                    steps.append(None)
                indent = own
                continue
            if found.group(2) and own < indent <= key_indent:
                steps.append(None)  # a sibling key of this list item
                indent = own
        elif item is not None and own < indent:
            steps.append(None)
            indent = own
        if indent == 0:
            break
    return list(reversed(steps))


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas ``node`` may be ($ref followed, anyOf / oneOf / allOf flattened)."""
    if "$ref" in node:
        return _resolve(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[-1]])
    out: list[dict[str, Any]] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in node.get(key, []):
            out.extend(_resolve(schema, branch))
    return out or [node]


def _nodes_at(text: str, line: int, section: str) -> list[dict[str, Any]]:
    """The object schemas the mapping at ``line`` may be."""
    schema = _schema()
    nodes = _resolve(schema, schema["properties"][section]["items"])
    for step in path_at(text, line):
        following: list[dict[str, Any]] = []
        for node in nodes:
            child = node.get("items") if step is None else node.get("properties", {}).get(step)
            if child is not None:
                following.extend(_resolve(schema, child))
        nodes = following
    return nodes


def keys_at(text: str, line: int, section: str = "rulesets") -> list[str]:
    keys = {key for node in _nodes_at(text, line, section) for key in node.get("properties", {})}
    return sorted(keys)


def values_at(text: str, line: int, section: str = "rulesets") -> tuple[str, list[str]]:
    """On a ``key: partial`` line, the key and the values the schema allows for it that start with
    what is typed (none when the schema lists no values, or when the line holds no key)."""
    lines = text.splitlines()
    found = _VALUE.match(lines[line - 1]) if 0 < line <= len(lines) else None
    if found is None:
        return "", []
    key, typed = found.groups()
    schema = _schema()
    values: list[str] = []
    for node in _nodes_at(text, line, section):
        prop = node.get("properties", {}).get(key)
        for option in _resolve(schema, prop) if prop is not None else []:
            listed = option.get("enum", [option["const"]] if "const" in option else [])
            values.extend(str(v) for v in listed if isinstance(v, str) and str(v) not in values)
    return key, [v for v in values if v.startswith(typed) and v != typed]


def completion_context(text: str, line: int, section: str) -> dict[str, Any]:
    """What ``admin/completion.html`` shows: the values for the line's key, else the keys allowed."""
    key, values = values_at(text, line, section)
    return {
        "line": line,
        "key": key,
        "values": values,
        "keys": [] if values else keys_at(text, line, section),
    }
