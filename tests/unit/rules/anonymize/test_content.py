"""SR content trees: replaced by a minimal dummy tree without Clean Structured Content, cleaned item by
item with it; overlay and curve groups removed whole, or cleaned where they carry no bitmap."""

from __future__ import annotations

import pytest
from pydicom import Dataset

from rules.anonymize.keys import Keys
from rules.anonymize.plan import AnonymizeSpec
from rules.anonymize.run import anonymize
from rules.anonymize.values import shift_value
from tests.unit.rules.anonymize.corpus import IDENTITY, corpus
from tests.unit.rules.anonymize.phi import SECRET, encode

KEYS = Keys(SECRET.encode())


def _run(name: str, profile: str = "basic", options: tuple[str, ...] = ()) -> Dataset:
    spec = AnonymizeSpec(profile=profile, options=list(options), allow_burned_in=True)
    return anonymize(corpus()[name], spec, SECRET).dataset


def _items(ds: Dataset) -> list[Dataset]:
    found = []
    for item in ds.get("ContentSequence", ()):
        found.append(item)
        found.extend(_items(item))
    return found


def test_without_the_option_the_sr_tree_is_a_dummy() -> None:
    original = corpus()["SR"]
    assert any(item.ValueType == "TEXT" for item in _items(original))
    out = _run("SR")
    # The measurement report has no first-level reference: the root container stands alone.
    assert "ContentSequence" not in out
    assert out.ValueType == "CONTAINER" and out.ContinuityOfContent == "SEPARATE"
    title = out.ConceptNameCodeSequence[0]
    assert (title.CodeValue, title.CodingSchemeDesignator) == ("126000", "DCM")
    assert "ContentTemplateSequence" not in out  # the dummy tree no longer follows TID 1500
    assert b"Seen with" not in encode(out)


def test_without_the_option_a_key_object_keeps_only_its_references() -> None:
    original = corpus()["KO"]
    before = [i for i in original.ContentSequence if i.ValueType == "IMAGE"]
    assert [i.ValueType for i in original.ContentSequence] == ["TEXT", "IMAGE"]
    out = _run("KO")
    assert [i.ValueType for i in out.ContentSequence] == ["IMAGE"]
    ref = out.ContentSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == KEYS.uid(
        before[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    )
    assert out.ContentTemplateSequence[0].TemplateIdentifier == "2010"
    assert b"Key images for" not in encode(out)


def test_with_the_option_every_item_is_cleaned() -> None:
    out = _run("SR", options=("clean-structured-content",))
    items = _items(out)
    texts = {str(i.TextValue) for i in items if i.ValueType == "TEXT"}
    assert "Seen with , , at" in texts  # name, MRN and address scrubbed out, the rest kept
    names = {str(i.PersonName) for i in items if i.ValueType == "PNAME"}
    assert names == {"ANONYMIZED"}  # PersonName is D in Table E.1-1, at any depth
    uids = [i for i in items if i.ValueType == "UIDREF"]
    original = {str(i.UID) for i in _items(corpus()["SR"]) if i.ValueType == "UIDREF"}
    assert uids and {str(i.UID) for i in uids} == {KEYS.uid(u) for u in original}
    assert "ContentTemplateSequence" in out  # the structure survives
    values = " ".join(str(e.value) for item in items for e in item if e.VR != "SQ")
    assert "lesion of" in values  # the tracking identifier, scrubbed
    assert [s for s in ("HOLLOWAY", "MARGARET", "MRN-40417", "READER") if s in values] == []


def test_dates_in_content_items_are_shifted_by_the_patients_shift() -> None:
    sr = corpus()["SR"]
    item = Dataset()
    item.RelationshipType, item.ValueType, item.Date = "CONTAINS", "DATE", "20240301"
    sr.ContentSequence = [*sr.ContentSequence, item]
    spec = AnonymizeSpec(profile="research-basic", options=["clean-structured-content"])
    result = anonymize(sr, spec, SECRET)
    days = result.pseudonym.date_shift_days
    assert days is not None
    dated = [i for i in result.dataset.ContentSequence if i.ValueType == "DATE"]
    assert [i.Date for i in dated] == [shift_value("DA", "20240301", days)]
    basic = anonymize(sr, AnonymizeSpec(profile="basic"), SECRET).dataset
    assert [i for i in basic.get("ContentSequence", ()) if i.ValueType == "DATE"] == []


@pytest.mark.parametrize("name", ["CT", "MR", "US"])
def test_overlay_and_curve_groups_go_whole_without_clean_graphics(name: str) -> None:
    assert corpus()[name][0x60000022].value == "Marked by HOLLOWAY^MARGARET"
    out = _run(name)
    assert [e.tag for e in out if 0x5000 <= e.tag.group <= 0x60FF] == []


def test_clean_graphics_removes_a_group_with_its_bitmap_and_cleans_one_without() -> None:
    out = _run("CT", options=("clean-graphics",))
    assert [e.tag for e in out if e.tag.group == 0x6000] == []  # Overlay Data cannot be cleaned
    ds = corpus()["CT"]
    del ds[0x60003000]  # an overlay in the pixel data's unused bits: no bitmap of its own
    spec = AnonymizeSpec(profile="basic", options=["clean-graphics"])
    cleaned = anonymize(ds, spec, SECRET).dataset
    assert cleaned[0x60000022].value == "Marked by"
    assert cleaned[0x60001500].value == "arrow"
    assert cleaned[0x60000010].value == ds.Rows  # geometry kept
    assert cleaned[0x50002500].value == "curve"
    assert anonymize(ds, AnonymizeSpec(profile="basic"), SECRET).dataset.get(0x60000022) is None


def test_identity_survives_only_where_the_basic_profile_does_not_look() -> None:
    """Basic keeps attributes the table does not list (documented); strict leaves nothing."""
    for name in corpus():
        assert [s for s in IDENTITY if s.encode() in encode(_run(name, "strict"))] == [], name
    leaks = {s for s in IDENTITY if s.encode() in encode(_run("CT"))}
    assert leaks == {"HOLLOWAY", "St Elsewhere Radiology"}  # AcquisitionProtocolName, issuer sequence
