"""The STOW-RS response rules on their own; the destination itself is tested against a real Orthanc in
tests/contract/test_destinations.py."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from axiom.destinations.stowrs import _peer, http_transient, reason_transient, store_outcomes


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (500, True),
        (502, True),
        (503, True),
        (429, True),
        (408, True),
        (400, False),
        (401, False),
        (404, False),
        (409, False),
        (415, False),
    ],
)
def test_http_status_classification(status: int, transient: bool) -> None:
    assert http_transient(status) is transient


@pytest.mark.parametrize(
    ("reason", "transient"),
    [(0xA700, True), (0xA7FF, True), (0xA900, False), (0xC000, False), (0x0110, False), (0x0122, False)],
)
def test_failure_reason_classification(reason: int, transient: bool) -> None:
    assert reason_transient(reason) is transient


def _item(uid: str, reason: int | None = None) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = uid
    if reason is not None:
        item.FailureReason = reason
    return item


def test_store_outcomes_reads_failed_and_referenced_sequences() -> None:
    response = Dataset()
    response.FailedSOPSequence = [_item("1.2.3", 0xA700), _item("1.2.4")]
    response.ReferencedSOPSequence = [_item("1.2.5")]
    assert store_outcomes(response) == ({"1.2.3": 0xA700, "1.2.4": 0xC000}, {"1.2.5"})


def test_store_outcomes_is_none_for_a_response_listing_nothing() -> None:
    assert store_outcomes(Dataset()) is None
    empty = Dataset()
    empty.FailedSOPSequence = []
    assert store_outcomes(empty) is None


def test_peer_drops_user_info_and_query() -> None:
    assert _peer("https://user:pw@pacs.example:8443/dicom-web?x=1") == "https://pacs.example:8443/dicom-web"
