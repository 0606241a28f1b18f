"""The core install is free of GPL code.

Axiom is Apache-2.0 (``LICENSE``, ``pyproject.toml``). Every distribution reachable from
``axiom-router``'s core requirements (no extras) is looked up in the installed metadata, following each
requirement's own requirements and the extras it asks for, and none may declare a GPL or AGPL license
(LGPL, e.g. psycopg, is fine to depend on). GPL decoders live in the ``jpeg-gpl`` extra.
"""

from __future__ import annotations

import re
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

# "GPL", "GPL-3.0-only", "AGPL-3.0", "GNU General Public License v3" — but not LGPL / Lesser / Library.
_GPL_TEXT = re.compile(r"(?<![L\w-])A?GPL\b|GNU (?:Affero )?General Public License", re.IGNORECASE)


def licenses(dist: Distribution) -> list[str]:
    """What a distribution declares: License-Expression, a short License field, license classifiers."""
    meta = dist.metadata
    found = [meta.get("License-Expression") or ""]
    short = (meta.get("License") or "").strip()
    if short and "\n" not in short:  # some put the whole license text here; the classifiers say it
        found.append(short)
    found += [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return [text for text in found if text]


def is_gpl(dist: Distribution) -> bool:
    return any(_GPL_TEXT.search(text) for text in licenses(dist))


def closure(root: str) -> dict[str, Distribution]:
    """Installed distributions reachable from ``root``'s requirements without extras, by name."""
    seen: dict[str, Distribution] = {}
    pending: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    requested: dict[str, frozenset[str]] = {}
    while pending:
        name, extras = pending.pop()
        key = canonicalize_name(name)
        if key in seen and extras <= requested.get(key, frozenset()):
            continue
        requested[key] = requested.get(key, frozenset()) | extras
        dist = distribution(name)
        seen[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            wanted = req.marker is None or any(
                req.marker.evaluate({**default_environment(), "extra": extra})
                for extra in (requested[key] or {""})
            )
            if not wanted:
                continue
            try:
                distribution(req.name)
            except PackageNotFoundError:
                raise AssertionError(f"{name} requires {req}, which is not installed") from None
            pending.append((req.name, frozenset(req.extras)))
    return seen


def test_the_core_install_has_no_gpl_package() -> None:
    core = closure("axiom-router")
    assert {"pydicom", "celery", "pylibjpeg-openjpeg", "pillow"} <= core.keys()
    gpl = {name: licenses(dist) for name, dist in core.items() if is_gpl(dist)}
    assert gpl == {}, f"GPL in the core install: {gpl}"


def test_the_check_recognises_gpl_and_spares_lgpl() -> None:
    # The test extra leaves the GPL decoder out, so its metadata is written here as its wheel has it.
    gpl = _metadata("pylibjpeg-libjpeg", ["License: GPL V3.0"])
    classified = _metadata("x", ["Classifier: License :: OSI Approved :: GNU General Public License v3"])
    agpl = _metadata("y", ["License-Expression: AGPL-3.0-or-later"])
    assert is_gpl(gpl) and is_gpl(classified) and is_gpl(agpl)
    lesser = "Classifier: License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)"
    assert not is_gpl(_metadata("psycopg", ["License-Expression: LGPL-3.0-only", lesser]))
    assert not is_gpl(distribution("pydicom"))


def test_the_gpl_decoder_is_only_an_extra() -> None:
    requires = [Requirement(text) for text in distribution("axiom-router").requires or []]
    libjpeg = [req for req in requires if canonicalize_name(req.name) == "pylibjpeg-libjpeg"]
    assert libjpeg and all(req.marker is not None and "jpeg-gpl" in str(req.marker) for req in libjpeg)
    assert (ROOT / "LICENSE").read_text().startswith("\n                                 Apache License")


def _metadata(name: str, fields: list[str]) -> Distribution:
    lines = ["Metadata-Version: 2.4", f"Name: {name}", "Version: 1", *fields]

    class _Dist(Distribution):
        def read_text(self, filename: str) -> str | None:
            return "\n".join(lines) + "\n" if filename in ("METADATA", "PKG-INFO") else None

        def locate_file(self, path: object) -> Path:
            raise FileNotFoundError(path)

    return _Dist()
