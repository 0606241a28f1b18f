"""Received headers kept for replay: what is kept (the encoded bytes up to Pixel Data: no decoding,
no JSON build on the hot path), and the clean-up. Rows from before that change hold DICOM JSON
(no bulk values); replay reads both.

The worker stores a header in the same transaction as the instance row when
``header_retention_days`` is above 0; Beat deletes headers older than the retention (all of them
when retention is 0, so turning it off also removes what was kept).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

from pydicom import Dataset, dcmread
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian
from sqlalchemy.orm import Session, sessionmaker

from axiom.db.repositories import headers as header_repo
from axiom.pipeline.instance_values import RAW_LIMIT, raw_bytes

# Binary values whose base64 form is longer than this are left out (PixelData, overlays, icons...).
BULK_THRESHOLD = 1024
_BULK_MARK = "axiom:dropped"
PIXEL_DATA = 0x7FE00010
DEFLATED = str(DeflatedExplicitVRLittleEndian)
IMPLICIT = str(ImplicitVRLittleEndian)


def _mark_bulk(_element: DataElement) -> str:
    return _BULK_MARK


def _strip_bulk(attributes: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for tag, element in attributes.items():
        if element.get("BulkDataURI") == _BULK_MARK:
            continue
        if element.get("vr") == "SQ" and element.get("Value"):
            element = {**element, "Value": [_strip_bulk(item) for item in element["Value"]]}
        kept[tag] = element
    return kept


def header_json(dataset: Dataset) -> dict[str, Any]:
    """The dataset as DICOM JSON without bulk binary values, at any depth."""
    return received_header(dataset)[0]


def received_header(dataset: Dataset) -> tuple[dict[str, Any], dict[str, str]]:
    """``header_json`` that never raises, and the values that did not parse as their VR (an IS of
    ``1A``) by keyword, as received text: those are left out of the header (a replay could not load
    them) and kept by the caller in ``dicom_instances.raw_values``."""
    attributes: dict[str, Any] = {}
    unparsed: dict[str, str] = {}
    for tag in sorted(dataset.keys()):
        key = f"{tag:08X}"
        try:
            attributes[key] = dataset[tag].to_json_dict(
                bulk_data_element_handler=_mark_bulk, bulk_data_threshold=BULK_THRESHOLD
            )
        except Exception:
            value = raw_bytes(dataset, tag)
            unparsed[keyword_for_tag(tag) or key] = value.decode("latin-1").strip(" \x00")[:RAW_LIMIT]
    return _strip_bulk(attributes), unparsed


# Value representations whose text a received value can get wrong so that reading it raises, and
# what a well-formed value looks like (checked on the raw bytes: most values need no conversion).
_PARSED_VRS = frozenset({"IS", "DS", "AT", "FL", "FD", "SL", "SS", "UL", "US", "SV", "UV", "OF", "OD"})
_WELL_FORMED = {
    "IS": re.compile(rb"[ ]*[+-]?[0-9]+[ ]*(\\[ ]*[+-]?[0-9]+[ ]*)*\x00?"),
    "DS": re.compile(
        rb"[ ]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[ ]*"
        rb"(\\[ ]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[ ]*)*\x00?"
    ),
}
_FIXED = {"AT": 4, "FL": 4, "FD": 8, "SL": 4, "SS": 2, "UL": 4, "US": 2, "SV": 8, "UV": 8, "OF": 4, "OD": 8}


def _dictionary_vr(tag: int) -> str | None:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return None


def _looks_right(vr: str, raw: bytes | None) -> bool:
    if not raw:
        return True
    if vr in _WELL_FORMED:
        return _WELL_FORMED[vr].fullmatch(raw) is not None
    return len(raw) % _FIXED[vr] == 0


def unparsed_values(dataset: Dataset) -> dict[str, str]:
    """Top-level values that do not parse as their VR (an IS of ``1A``), by keyword, as received
    text: the caller keeps them in ``dicom_instances.raw_values``. Reads only the numeric elements."""
    unparsed: dict[str, str] = {}
    for element in dataset.elements():
        if not isinstance(element, RawDataElement):
            continue  # converted already: it parsed
        vr = element.VR or _dictionary_vr(element.tag)  # implicit VR: the dictionary's
        if vr not in _PARSED_VRS or _looks_right(vr, element.value):
            continue
        key = keyword_for_tag(element.tag) or f"{element.tag:08X}"
        unparsed[key] = raw_bytes(dataset, element.tag).decode("latin-1").strip(" \x00")[:RAW_LIMIT]
    return unparsed


def encoded_header(part10: bytes, dataset: Dataset) -> bytes:
    """The received file up to (not including) the top-level Pixel Data element; all of it when the
    dataset has none or its stream is deflated (the offsets are then the inflated stream's)."""
    meta = getattr(dataset, "file_meta", None)
    syntax = str(getattr(meta, "TransferSyntaxUID", "")) if meta is not None else ""
    if PIXEL_DATA not in dataset or syntax == DEFLATED:
        return part10
    element = dataset.get_item(PIXEL_DATA)
    tell = getattr(element, "value_tell", None)
    if tell is None:
        return part10
    implicit = syntax == IMPLICIT
    return part10[: tell - (8 if implicit else 12)]


def dataset_from_header(header: dict[str, Any] | None, encoded: bytes | None = None) -> Dataset:
    if encoded is not None:
        return dcmread(BytesIO(encoded), force=True)
    return Dataset.from_json(header or {})


def store_received_header(session: Session, instance_id: int, encoded: bytes, received_at: datetime) -> None:
    """Part of the caller's transaction: it commits. ``encoded``: from ``encoded_header``."""
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)
    header_repo.store_header(session, instance_id, encoded, received_at)


def delete_expired_headers(sessions: sessionmaker[Session], *, retention_days: float, now: datetime) -> int:
    """Delete headers received more than ``retention_days`` before ``now``; how many were deleted."""
    cutoff = now - timedelta(days=max(retention_days, 0.0))
    with sessions() as session:
        deleted = header_repo.delete_received_before(session, cutoff)
        session.commit()
    return deleted


__all__ = [
    "BULK_THRESHOLD",
    "dataset_from_header",
    "delete_expired_headers",
    "encoded_header",
    "header_json",
    "received_header",
    "store_received_header",
    "unparsed_values",
]
