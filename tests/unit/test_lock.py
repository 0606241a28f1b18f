"""requirements.lock pins what the image installs, agrees with pyproject.toml and carries no GPL.

scripts/lock.sh writes it for the Dockerfile's default EXTRAS; the Dockerfile installs with it as a
constraints file. A dependency added to pyproject.toml without re-locking fails here.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.unit.test_licenses import is_gpl

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)(?:\s+#.*)?$")


def pins() -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"requirements.lock: not an exact pin: {line!r}"
        found[canonicalize_name(match["name"])] = Version(match["version"])
    return found


def image_extras() -> list[str]:
    dockerfile = (ROOT / "Dockerfile").read_text()
    extras = re.search(r"^ARG EXTRAS=(\S*)$", dockerfile, re.MULTILINE)
    assert extras and "-c requirements.lock" in dockerfile
    return [e for e in extras[1].split(",") if e]


def test_the_lock_pins_every_requirement_of_the_image_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = image_extras()
    assert f"for the image's extras: {','.join(extras)}." in LOCK.read_text().splitlines()[0]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for e in extras for r in project["optional-dependencies"][e]]
    locked = pins()
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} is not in requirements.lock: run scripts/lock.sh"
        assert req.specifier.contains(locked[name], prereleases=True), f"{req} vs {locked[name]}"


def test_the_lock_holds_no_gpl_package() -> None:
    locked = pins()
    assert "pylibjpeg-libjpeg" not in locked
    checked = []
    for name in locked:
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue  # not in the test environment; test_licenses covers the core closure
        assert not is_gpl(dist), f"{name} in requirements.lock is GPL"
        checked.append(name)
    assert len(checked) > len(locked) * 3 // 4
