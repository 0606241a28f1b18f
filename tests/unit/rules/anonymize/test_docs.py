"""The YAML in docs/anonymization.md loads: rulesets as rules, profile files as profiles."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from rules.anonymize.profiles import OPTION_NAMES, ProfileDef, profile_names
from rules.model import Ruleset

DOC = Path(__file__).resolve().parents[4] / "docs" / "anonymization.md"


def test_every_yaml_example_loads() -> None:
    blocks = [yaml.safe_load(text) for text in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)]
    kinds = []
    for block in blocks:
        if "rulesets" in block:
            kinds.extend(Ruleset.model_validate(item).name for item in block["rulesets"])
        else:
            kinds.append(ProfileDef.model_validate(block).name)
    assert kinds == ["research", "research-longitudinal"]


def test_the_guide_names_every_profile_and_option() -> None:
    text = DOC.read_text()
    for name in [*profile_names(), *OPTION_NAMES]:
        assert f"`{name}`" in text, name
