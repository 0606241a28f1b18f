"""Received headers kept for replay: what is kept (no pixel data, no bulk values), and the clean-up.

The worker stores a header in the same transaction as the instance row when
``header_retention_days`` is above 0; Beat deletes headers older than the retention (all of them
when retention is 0, so turning it off also removes what was kept).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydicom import Dataset
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from sqlalchemy.orm import Session, sessionmaker

from axiom.db.repositories import headers as header_repo
from axiom.pipeline.instance_values import RAW_LIMIT, raw_bytes

# Binary values whose base64 form is longer than this are left out (PixelData, overlays, icons...).
BULK_THRESHOLD = 1024
_BULK_MARK = "axiom:dropped"


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


def dataset_from_header(header: dict[str, Any]) -> Dataset:
    return Dataset.from_json(header)


def store_received_header(
    session: Session, instance_id: int, header: dict[str, Any], received_at: datetime
) -> None:
    """Part of the caller's transaction: it commits. ``header``: from ``received_header``."""
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)
    header_repo.store_header(session, instance_id, header, received_at)


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
    "header_json",
    "received_header",
    "store_received_header",
]
