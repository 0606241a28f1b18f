"""Profiles compose in YAML (base + options + overrides) and fail with the field named."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from pydantic import ValidationError

from rules.anonymize.plan import AnonymizeSpec
from rules.anonymize.profiles import ProfileDef, ProfileError, resolve, shipped_profiles

STUDY_DATE = 0x00080020
PATIENT_AGE = 0x00101010


def test_shipped_profiles_load_and_compose() -> None:
    assert {"basic", "research-basic", "research-longitudinal"} <= set(shipped_profiles())
    research = resolve("research-basic")
    assert research.options == ("retain-longitudinal-modified-dates", "clean-descriptors")
    longitudinal = resolve("research-longitudinal")
    # Its base's Modified Dates option is dropped in favour of Full Dates.
    assert "retain-longitudinal-modified-dates" not in longitudinal.options
    assert longitudinal.code(STUDY_DATE) == "K" and longitudinal.code(PATIENT_AGE) == "K"
    assert longitudinal.private_code == "C"


def test_the_action_adds_options_and_overrides() -> None:
    spec = AnonymizeSpec(profile="research-basic", options=["retain-patient-characteristics"])
    assert spec.resolved().code(PATIENT_AGE) == "K"
    spec = AnonymizeSpec(profile="basic", overrides={"PatientAge": "K", "(0008,0080)": "K"})
    assert spec.resolved().code(PATIENT_AGE) == "K" and spec.resolved().code(0x00080080) == "K"
    assert resolve("basic").code(PATIENT_AGE) == "X"  # the shipped profile is unchanged


def test_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        AnonymizeSpec.model_validate({"profile": "research"})
    assert info.value.errors()[0]["loc"] == ("profile",)
    assert "research-basic" in str(info.value)
    with pytest.raises(ProfileError, match=r"^options: .*exclude each other"):
        resolve("research-basic", ("retain-longitudinal-full-dates",))
    with pytest.raises(ValidationError) as info:
        ProfileDef.model_validate({"name": "x", "overrides": {"PatientAge": "KEEP"}})
    assert info.value.errors()[0]["loc"] == ("overrides", "PatientAge")
    with pytest.raises(ValidationError) as info:
        ProfileDef.model_validate(
            {"name": "x", "safe_private": [{"group": 0x0010, "creator": "A", "element": 1}]}
        )
    assert "private (odd) group" in str(info.value)


def test_profile_files_ship_as_package_data() -> None:
    # An installed package carries only .py files of packages and files matched by package-data.
    root = Path(__file__).resolve().parents[4]
    package_data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = root / "rules" / "anonymize"
    for path in package.rglob("*"):
        if not path.is_file() or path.suffix in (".py", ".pyc"):
            continue
        relative = path.relative_to(package).as_posix()
        patterns = package_data["*"] if "/" not in relative else package_data.get("rules.anonymize", [])
        assert any(fnmatch(relative, pattern) for pattern in patterns), f"{relative} not in package-data"
