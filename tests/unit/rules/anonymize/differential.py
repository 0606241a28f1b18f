"""Axiom's Basic Profile next to dicognito on the same synthetic corpus, attribute by attribute.

Each attribute occurrence of the input (at any depth, by its path of tags and item indices) is
classified per tool as ``removed`` (absent from the output), ``emptied``, ``changed`` or ``kept``
(same value). Per attribute, a tool's outcome is its weakest over the corpus (kept < changed <
emptied < removed). The report lists every attribute one tool keeps and the other does not, with
the Basic Profile's Table E.1-1 code; it is checked in as docs/anonymization-differential.csv:

    .venv/bin/python -m tests.unit.rules.anonymize.differential   # rewrites the CSV
"""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Iterator
from pathlib import Path

from pydicom import Dataset
from pydicom.datadict import keyword_for_tag

from rules.anonymize.plan import AnonymizeSpec
from rules.anonymize.profiles import resolve
from rules.anonymize.run import anonymize
from tests.unit.rules.anonymize.corpus import corpus
from tests.unit.rules.anonymize.phi import SECRET, phi_dataset

REPORT = Path(__file__).resolve().parents[4] / "docs" / "anonymization-differential.csv"
COLUMNS = ("tag", "keyword", "table_code", "axiom", "dicognito", "instances")
_RANK = {"kept": 0, "changed": 1, "emptied": 2, "removed": 3}
Path_ = tuple[int, ...]


def leaves(ds: Dataset, path: Path_ = ()) -> Iterator[tuple[Path_, object]]:
    """(path, value) of every non-sequence element, at every depth; file meta excluded."""
    for elem in ds:
        here = (*path, int(elem.tag))
        if elem.VR == "SQ":
            for index, item in enumerate(elem.value or ()):
                yield from leaves(item, (*here, -1 - index))
        else:
            yield here, None if elem.is_empty else elem.value


def outcome(before: object, after: dict[Path_, object], path: Path_) -> str:
    if path not in after:
        return "removed"
    value = after[path]
    if value is None:
        return "emptied"
    return "kept" if value == before else "changed"


def _dicognito(ds: Dataset) -> Dataset:
    from dicognito.anonymizer import Anonymizer

    out = copy.deepcopy(ds)
    Anonymizer(seed="axiom-differential").anonymize(out)
    return out


def _axiom(ds: Dataset) -> Dataset:
    return anonymize(ds, AnonymizeSpec(profile="basic", allow_burned_in=True), SECRET).dataset


def inputs() -> dict[str, Dataset]:
    """The corpus of real IODs, and the CT that carries every attribute of Table E.1-1 (``PHI``)."""
    return {**corpus(), "PHI": phi_dataset()[0]}


def occurrences() -> Iterator[tuple[str, Path_, object, str, str]]:
    """(instance, path, input value, Axiom's outcome, dicognito's outcome) for every non-empty leaf."""
    for name, ds in inputs().items():
        ours = dict(leaves(_axiom(ds)))
        theirs = dict(leaves(_dicognito(ds)))
        for path, value in leaves(ds):
            if value is not None and not any(p >= 0 and (p >> 16) % 2 for p in path):
                yield name, path, value, outcome(value, ours, path), outcome(value, theirs, path)


def report_rows() -> list[dict[str, str]]:
    profile = resolve("basic")
    worst: dict[int, dict[str, str]] = {}
    seen: dict[int, set[str]] = {}
    for name, path, _value, ours, theirs in occurrences():
        tag = path[-1]
        row = worst.setdefault(tag, {"axiom": "removed", "dicognito": "removed"})
        for tool, got in (("axiom", ours), ("dicognito", theirs)):
            if _RANK[got] < _RANK[row[tool]]:
                row[tool] = got
        seen.setdefault(tag, set()).add(name)
    rows = []
    for tag, row in sorted(worst.items()):
        if (row["axiom"] == "kept") == (row["dicognito"] == "kept"):
            continue
        rows.append(
            {
                "tag": f"({tag >> 16:04X},{tag & 0xFFFF:04X})",
                "keyword": keyword_for_tag(tag) or "",
                "table_code": profile.code(tag) or "",
                "axiom": row["axiom"],
                "dicognito": row["dicognito"],
                "instances": " ".join(sorted(seen[tag])),
            }
        )
    return rows


def render(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


if __name__ == "__main__":
    REPORT.write_text(render(report_rows()))
    print(f"wrote {REPORT}")
