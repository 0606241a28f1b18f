"""docs/destinations.md stays true: its examples apply, and every registered kind has a section."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from axiom.destinations import ALIASES
from axiom.domain.config_file import ConfigFile
from axiom.plugins import validation_context

DOC = Path(__file__).resolve().parents[3] / "docs" / "destinations.md"
YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def test_every_destination_example_is_a_valid_config_file() -> None:
    examples = [yaml.safe_load(block) for block in YAML_BLOCK.findall(DOC.read_text())]
    configs = [
        ConfigFile.model_validate(e, context=validation_context())
        for e in examples
        if isinstance(e, dict) and "destinations" in e
    ]
    kinds = {d.type for config in configs for d in config.destinations}
    assert kinds == set(ALIASES)


def test_every_kind_has_a_section() -> None:
    text = DOC.read_text()
    for kind in ALIASES:
        assert f"\n## {kind}\n" in text, kind
