"""Reading configuration files: YAML with duplicate keys refused, validated into a ``ConfigFile``,
every problem reported with its field path (``ConfigFileError``). ``axiom.admin.apply_config``
re-exports these names."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from axiom.domain.config_file import ConfigFile
from axiom.plugins import validation_context


class ConfigFileError(ValueError):
    """A configuration that cannot be applied; ``str()`` gives one ``source: where: why`` per line."""

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(
            "\n".join(f"{source}: {where}: {why}" if where else f"{source}: {why}" for where, why in problems)
        )


# ---------------------------------------------------------------- reading


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears more than once in this mapping", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_config_file(path: Path) -> ConfigFile:
    """Read and validate a configuration file; ConfigFileError names the file, the field and why."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigFileError(source, [("", "not UTF-8 text")]) from None
    except OSError as exc:
        raise ConfigFileError(source, [("", f"cannot read the file: {exc.strerror or exc}")]) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        raise ConfigFileError(source, [_yaml_problem(exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(source, [("", f"YAML syntax error: {exc}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        keys = "'destinations', 'rulesets', 'crosswalks' and 'sources'"
        raise ConfigFileError(source, [("", f"the top level must be a mapping with the keys {keys}")])
    return parse_config(data, source=source).with_paths_from(Path(path).resolve().parent)


def parse_config(data: dict[str, Any], *, source: str = "<config>") -> ConfigFile:
    """Validate already-parsed data (e.g. a JSON request body) with the same error reporting."""
    try:
        config = ConfigFile.model_validate(data, context=validation_context())
    except ValidationError as exc:
        problems = [(_field_path(err["loc"], data), _reason(err)) for err in exc.errors(include_url=False)]
        raise ConfigFileError(source, problems) from None
    return config.with_source(source)


def _yaml_problem(exc: yaml.MarkedYAMLError) -> tuple[str, str]:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    why = "; ".join(part for part in (exc.context, exc.problem) if part)
    return where, f"YAML syntax error: {why}"


def _reason(err: ErrorDetails) -> str:
    # Only pydantic's message: the input itself may be anything, and errors end up in logs.
    return err["msg"].removeprefix("Value error, ")


_END = object()


def _field_path(loc: tuple[int | str, ...], data: Any) -> str:
    """``rulesets[0].rules[1].when.regex`` from pydantic's ``loc``, which also holds the tags of
    tagged unions (``cstore``, ``tag``...). A loc entry is a place in the file when the input has it
    there; a tag is recognised because the entry after it is found beside it, not under it."""
    parts: list[int | str] = []
    current = data
    for index, element in enumerate(loc):
        following = loc[index + 1] if index + 1 < len(loc) else _END
        if _has(current, element):
            child = _child(current, element)
            is_tag = following is not _END and not _has(child, following) and _has(current, following)
            if not is_tag:
                parts.append(element)
                current = child
        elif following is _END:
            parts.append(element)  # a required field that is missing
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def _has(container: Any, key: object) -> bool:
    if isinstance(container, dict):
        return key in container
    if isinstance(container, list):
        return isinstance(key, int) and -len(container) <= key < len(container)
    return False


def _child(container: Any, key: Any) -> Any:
    return container[key]
