"""The published JSON Schema is current and agrees with what `axiom apply` accepts."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from axiom.admin.config_schema import config_schema, config_schema_text

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "rules" / "examples").glob("*.yaml"))


def test_published_schema_is_current() -> None:
    published = (ROOT / "docs" / "config.schema.json").read_text()
    assert published == config_schema_text(installed=False), (
        "run: axiom schema --built-in > docs/config.schema.json"
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_files_are_valid_against_the_schema(path: Path) -> None:
    jsonschema.Draft202012Validator(config_schema()).validate(yaml.safe_load(path.read_text()))


def test_schema_refuses_what_apply_refuses() -> None:
    validator = jsonschema.Draft202012Validator(config_schema())
    bad_kind = {"destinations": [{"name": "x", "type": "ftp"}]}
    unknown_key = {"rulesets": [{"name": "r", "rules": [], "colour": "red"}]}
    assert not validator.is_valid(bad_kind)
    assert not validator.is_valid(unknown_key)
