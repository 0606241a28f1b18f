"""The differential against dicognito: Axiom keeps nothing Table E.1-1 removes or replaces, and the
checked-in report (docs/anonymization-differential.csv) is the one the corpus gives today."""

from __future__ import annotations

import pytest

from rules.anonymize.profiles import resolve
from tests.unit.rules.anonymize.differential import REPORT, occurrences, render, report_rows

pytest.importorskip("dicognito")
# Replaced by the pseudonym after the walk, whatever their code.
_SET_AFTERWARDS = {0x00100010, 0x00100020}


@pytest.fixture(scope="module")
def found() -> list[tuple[str, tuple[int, ...], object, str, str]]:
    return list(occurrences())


def test_axiom_keeps_no_attribute_the_table_removes_or_replaces(
    found: list[tuple[str, tuple[int, ...], object, str, str]],
) -> None:
    profile = resolve("basic")
    kept = sorted(
        (name, path)
        for name, path, _value, ours, _theirs in found
        if ours == "kept"
        and path[-1] not in _SET_AFTERWARDS
        and (profile.code(path[-1]) or "K") not in ("K", "C")
    )
    assert kept == []
    # Not trivial: seven IODs and the CT that carries every row of the table.
    assert len(found) > 2000
    assert {ours for *_, ours, _ in found} == {"kept", "changed", "emptied", "removed"}


def test_the_checked_in_report_is_current() -> None:
    rows = report_rows()
    assert REPORT.read_text() == render(rows), "regenerate: python -m tests.unit.rules.anonymize.differential"
    # What the report shows today: the SR free text and overlay texts dicognito leaves in place.
    by_keyword = {row["keyword"]: row for row in rows}
    assert by_keyword["TextValue"]["axiom"] == "removed" and by_keyword["TextValue"]["dicognito"] == "kept"
    assert by_keyword["OverlayLabel"]["axiom"] == "removed"
