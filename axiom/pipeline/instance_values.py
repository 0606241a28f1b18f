"""Received values as the database can hold them: read without raising, cut to their column.

A value a sender got wrong (a 17-character Modality, a StudyDate range ``20240115-20240116``, an IS
of ``1A``) must never make recording an instance fail: it would fail on every retry. What does not
fit is cut to the column and kept as received in ``dicom_instances.raw_values``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom import Dataset
from pydicom.tag import BaseTag

from axiom.db.models import DicomInstance, DicomSeries, DicomStudy

# Longest text kept per value in raw_values.
RAW_LIMIT = 256


def _length(column: object) -> int:
    length = getattr(getattr(column, "type", None), "length", None)
    assert isinstance(length, int), column
    return length


MODALITY_LENGTH = _length(DicomSeries.__table__.c.modality)
STUDY_DATE_LENGTH = _length(DicomStudy.__table__.c.study_date)
AE_LENGTH = _length(DicomInstance.__table__.c.calling_ae)
SOURCE_LENGTH = _length(DicomInstance.__table__.c.source)
ACCESSION_LENGTH = _length(DicomInstance.__table__.c.accession_number)


def raw_text(dataset: Dataset, keyword: str) -> str:
    """The value of ``keyword`` as text; a value that does not parse as its VR is read as received."""
    try:
        return str(dataset.get(keyword, ""))
    except Exception:
        return raw_bytes(dataset, keyword).decode("latin-1").strip(" \x00")


def raw_bytes(dataset: Dataset, tag: BaseTag | str) -> bytes:
    """The value of an element as received, without converting it to its VR (empty if unknown)."""
    value = getattr(dataset.get_item(tag), "value", b"")
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("latin-1", "replace")
    return b""


@dataclass
class Fitted:
    """Values cut to their columns, and what they were before the cut."""

    raw: dict[str, str] = field(default_factory=dict)

    def fit(self, name: str, value: str | None, length: int) -> str | None:
        if not value:
            return None
        if len(value) <= length:
            return value
        self.raw[name] = value[:RAW_LIMIT]
        return value[:length]
