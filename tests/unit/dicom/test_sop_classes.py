"""Which proposed abstract syntaxes count as storage classes pynetdicom does not know."""

from __future__ import annotations

import pytest

from axiom.dicom.sop_classes import KNOWN_STORAGE_CLASSES, is_unknown_storage_class


@pytest.mark.parametrize(
    "uid",
    [
        "1.2.840.10008.5.1.4.1.1.6",  # Ultrasound Image Storage (Retired)
        "1.2.840.10008.5.1.4.1.1.5",  # Nuclear Medicine Image Storage (Retired)
        "1.2.826.0.1.3680043.10.543.7.1",  # private
        "1.2.840.10008.5.1.4.1.1.999999",  # newer than the dictionary
    ],
)
def test_unknown_storage_classes(uid: str) -> None:
    assert is_unknown_storage_class(uid)


@pytest.mark.parametrize(
    "uid",
    [
        "1.2.840.10008.1.1",  # Verification: its own service
        "1.2.840.10008.1.20.1",  # Storage Commitment Push Model
        "1.2.840.10008.5.1.4.1.2.2.1",  # Study Root FIND
        "1.2.840.10008.1.2.1",  # a transfer syntax, not a SOP class
        "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage: known already
        "1.2.3.04",  # not a valid UID
    ],
)
def test_not_unknown_storage_classes(uid: str) -> None:
    assert not is_unknown_storage_class(uid)


def test_known_storage_classes_are_pynetdicoms() -> None:
    assert "1.2.840.10008.5.1.4.1.1.2" in KNOWN_STORAGE_CLASSES
    assert "1.2.840.10008.1.1" not in KNOWN_STORAGE_CLASSES
