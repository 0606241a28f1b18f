"""Exception copies are named by Axiom, never by a received value."""

from __future__ import annotations

from pathlib import Path

from axiom.domain.instances import OutgoingInstance
from axiom.pipeline.exception_copies import keep_copy
from tests.factories import make_dataset


def test_copy_name_is_generated_not_the_uid(tmp_path: Path) -> None:
    ds = make_dataset(modality="CT", rows=8, columns=8)
    # Even a value that slipped past ingest cannot steer the copy out of its folder.
    hostile = OutgoingInstance(ds, None, "../destinations/x/INJECTED", str(ds.StudyInstanceUID))
    copy = keep_copy(hostile, tmp_path / "exceptions", fsync=False)
    assert copy.parent == tmp_path / "exceptions"
    assert "INJECTED" not in copy.name
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [copy.name]
