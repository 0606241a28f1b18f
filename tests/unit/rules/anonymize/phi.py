"""A synthetic instance full of PHI in every place Table E.1-1 lists, and helpers to inspect results.

``phi_dataset()`` starts from a real-looking CT (tests.factories) and adds every attribute of the
generated table with a recognisable value: text gets a unique ``PHInnnnX`` marker, UIDs ``1.2.999.n``,
dates unique days in 1970-1971. The same attributes are repeated two sequence levels down, inside
sequences the table does not list, next to private blocks, curves and overlays.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, timedelta

from pydicom import Dataset, dcmwrite
from pydicom.datadict import dictionary_has_tag, dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag

from rules.anonymize.table_e1_1 import ROWS
from tests.factories import make_dataset

SECRET = "test-secret-not-for-production"
# Set by the profile after the walk (or pseudonyms), so not checked against their table code.
SET_AFTERWARDS = {0x00100010, 0x00100020}
# Command-set, file meta (MediaStorageSOPInstanceUID follows SOPInstanceUID, checked apart) and
# trailing-padding rows: never part of a stored dataset's body.
UNWRITABLE_GROUPS = {0x0000, 0x0002, 0xFFFC}
NESTED_PATH = ("AnatomicRegionSequence", "PatientOrientationCodeSequence")


@dataclass
class Planted:
    """What was planted where: tag -> original element, per level, and every marker string."""

    top: dict[int, DataElement] = field(default_factory=dict)
    nested: dict[int, DataElement] = field(default_factory=dict)
    markers: set[str] = field(default_factory=set)


def _vr(tag: int) -> str:
    if not dictionary_has_tag(tag):
        return "LO"  # newer than pydicom's dictionary: planted as LO
    vr = dictionary_VR(tag)
    return vr.split(" or ")[0]


def _value(vr: str, n: int, markers: set[str]) -> object:
    text = f"PHI{n:04d}X"
    if vr in ("LO", "SH", "ST", "LT", "UT", "UC", "CS", "AE"):
        markers.add(text)
        return text
    if vr == "PN":
        markers.update({f"PHIFAM{n:04d}", f"PHIGIV{n:04d}"})
        return f"PHIFAM{n:04d}^PHIGIV{n:04d}"
    if vr == "UR":
        markers.add(f"phi{n:04d}.example")
        return f"http://phi{n:04d}.example/x"
    day = (date(1970, 1, 1) + timedelta(days=n)).strftime("%Y%m%d")
    if vr == "DA":
        markers.add(day)
        return day
    if vr == "DT":
        markers.add(day + "1015")
        return day + "101500"
    if vr == "TM":
        return f"{n % 24:02d}{n % 60:02d}17"
    if vr == "UI":
        markers.add(f"1.2.999.{n}")
        return f"1.2.999.{n}"
    if vr in ("DS", "IS"):
        return str(1000 + n)
    if vr == "AS":
        return "045Y"
    if vr in ("US", "SS", "UL", "SL"):
        return n
    if vr in ("FL", "FD"):
        return n + 0.5
    return b"PHIBYTES"  # OB, OW, UN


def _item(n: int, markers: set[str]) -> Dataset:
    """A sequence item with a listed text attribute and a listed UID inside."""
    item = Dataset()
    item.InstitutionName = f"PHIITEM{n:04d}"
    item.ReferencedSOPInstanceUID = f"1.2.998.{n}"
    markers.update({f"PHIITEM{n:04d}", f"1.2.998.{n}"})
    return item


def _plant(ds: Dataset, planted: dict[int, DataElement], markers: set[str], offset: int) -> None:
    for n, (tag_text, _keyword, _code, _options) in enumerate(ROWS, start=offset):
        if "x" in tag_text or tag_text == "private":
            continue
        tag = int(tag_text, 16)
        if tag >> 16 in UNWRITABLE_GROUPS:
            continue
        vr = _vr(tag)
        value: object = Sequence([_item(n, markers)]) if vr == "SQ" else _value(vr, n, markers)
        ds[tag] = DataElement(tag, vr, value)
        planted[tag] = DataElement(tag, vr, value)


def phi_dataset() -> tuple[Dataset, Planted]:
    ds = make_dataset(modality="CT")
    planted = Planted()
    _plant(ds, planted.top, planted.markers, 0)
    # Two levels down, inside sequences Table E.1-1 does not list.
    inner = Dataset()
    _plant(inner, planted.nested, planted.markers, 5000)
    middle = Dataset()
    middle.CodeValue = "T-D1100"
    middle.PatientOrientationCodeSequence = Sequence([inner])
    middle.private_block(0x0011, "ACME NESTED", create=True).add_new(0x01, "LO", "PHINESTEDPRIVATE")
    planted.markers.update({"PHINESTEDPRIVATE", "ACME NESTED"})
    ds.AnatomicRegionSequence = Sequence([middle])
    # The places the issue names explicitly, with realistic values.
    ds.PatientName = "DOE^JANE^Q"
    ds.PatientID = "MRN-77-1234"
    other = Dataset()
    other.PatientID = "OTHERMRN-5555"
    other.IssuerOfPatientID = "PHIISSUER"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.StudyDescription = "CT CHEST for DOE JANE MRN-77-1234"
    planted.markers.update({"DOE^JANE", "MRN-77-1234", "OTHERMRN-5555", "PHIISSUER"})
    # Private blocks: one on the safe list (Retain Safe Private), one not.
    safe = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    safe.add_new(0x0C, "IS", "1000")
    unsafe = ds.private_block(0x0009, "ACME PHI 1.0", create=True)
    unsafe.add_new(0x01, "LO", "PHIPRIVATE0001")
    planted.markers.update({"PHIPRIVATE0001", "ACME PHI 1.0"})
    # Curves and overlays (the repeating-group rows).
    ds.add_new(0x50000010, "US", 2)
    ds.add_new(0x50002500, "LO", "PHICURVELABEL")
    ds.add_new(0x60004000, "LT", "PHIOVERLAYCOMMENT")
    ds.add_new(0x60003000, "OW", b"\xff" * 8)
    planted.markers.update({"PHICURVELABEL", "PHIOVERLAYCOMMENT"})
    return ds, planted


def encode(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def at(ds: Dataset, path: tuple[str, ...]) -> Dataset:
    for keyword in path:
        ds = ds[keyword].value[0]
    return ds


def element(ds: Dataset, tag: int) -> DataElement | None:
    return ds[Tag(tag)] if BaseTag(tag) in ds else None
