"""Completion for the ruleset editor: the keys ``docs/config.schema.json`` allows at the cursor's
line, found from the YAML's indentation above it (which need not parse yet: the user is typing)."""

from __future__ import annotations

import re
from typing import Any

from axiom.admin.config_schema import config_schema

_KEY = re.compile(r"^(\s*)(-\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*:")
_ITEM = re.compile(r"^(\s*)-(\s|$)")
Step = str | None  # a mapping key, or None for "an item of this list"


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


def keys_at(text: str, line: int) -> list[str]:
    schema = config_schema()
    nodes = _resolve(schema, schema["properties"]["rulesets"]["items"])
    for step in path_at(text, line):
        following: list[dict[str, Any]] = []
        for node in nodes:
            child = node.get("items") if step is None else node.get("properties", {}).get(step)
            if child is not None:
                following.extend(_resolve(schema, child))
        nodes = following
    keys = {key for node in nodes for key in node.get("properties", {})}
    return sorted(keys)
