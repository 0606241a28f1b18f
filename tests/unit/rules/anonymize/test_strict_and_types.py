"""Combined codes narrowed by the attribute's type in the instance's IOD; the animal patient's 2C
attributes; the strict profile's allow-list."""

from __future__ import annotations

from pydicom import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, EnhancedMRImageStorage

from rules.anonymize.allow_list import ALLOWED
from rules.anonymize.narrow import iod_types, single_code
from rules.anonymize.plan import AnonymizeSpec
from rules.anonymize.profiles import resolve
from rules.anonymize.run import anonymize
from tests.factories import make_dataset
from tests.unit.rules.anonymize.corpus import corpus
from tests.unit.rules.anonymize.phi import SECRET

DEVICE_SERIAL = 0x00181000
ACQUISITION_DATETIME = 0x0008002A


def _basic(ds: Dataset, profile: str = "basic") -> Dataset:
    return anonymize(ds, AnonymizeSpec(profile=profile, allow_burned_in=True), SECRET).dataset


def test_types_come_from_the_iod_tables() -> None:
    enhanced = iod_types(EnhancedMRImageStorage)
    ct = iod_types(CTImageStorage)
    assert enhanced is not None and ct is not None
    assert enhanced[(0, DEVICE_SERIAL)] == "1"  # Enhanced General Equipment
    assert ct[(0, DEVICE_SERIAL)] == "3"  # General Equipment
    assert enhanced[(0, 0x00400555)] == "2"  # Acquisition Context Sequence
    assert iod_types("1.2.3.4.not.a.sop.class") is None


def test_x_z_d_becomes_d_for_type_1_z_for_type_2_x_for_type_3() -> None:
    ds = make_dataset(modality="MR")
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = EnhancedMRImageStorage
    ds.DeviceSerialNumber = "SN-1"
    ds.AcquisitionDateTime = "20240314101500"
    context = Dataset()
    context.ValueType = "TEXT"
    ds.AcquisitionContextSequence = Sequence([context])
    out = _basic(ds)
    assert out.DeviceSerialNumber == "ANONYMIZED"  # X/Z/D, Type 1: a dummy, the instance stays valid
    assert out.AcquisitionDateTime == "19000101000000"  # X/Z/D, Type 1C in the Enhanced MR Image module
    assert out.AcquisitionContextSequence == Sequence()  # X/Z, Type 2: present and empty
    ct = make_dataset(modality="CT")
    ct.DeviceSerialNumber = "SN-1"
    assert "DeviceSerialNumber" not in _basic(ct)  # Type 3 in the CT Image IOD: removed
    # An IOD Axiom has no table for: present attributes stay present, without information.
    ct.SOPClassUID = ct.file_meta.MediaStorageSOPClassUID = "1.2.826.0.1.3680043.10.1159.9"
    assert _basic(ct)["DeviceSerialNumber"].is_empty


def test_narrowing_stays_within_the_code() -> None:
    elem = make_dataset().data_element("StudyDate")
    assert elem is not None
    assert [single_code("X/Z", elem, t) for t in ("1", "2", "3")] == ["Z", "Z", "X"]
    assert [single_code("Z/D", elem, t) for t in ("1", "2C", "3")] == ["D", "Z", "Z"]
    assert [single_code("X/D", elem, t) for t in ("1C", "2", "3")] == ["D", "D", "X"]
    uid = make_dataset().data_element("SOPInstanceUID")
    assert uid is not None
    assert single_code("X/Z/U*", uid, "3") == "U"  # references stay, remapped, whatever the type


def test_an_animal_patients_responsible_person_is_emptied_not_removed() -> None:
    ds = make_dataset(modality="CT")
    ds.ResponsiblePerson = "OWNER^OLIVE"
    ds.ResponsibleOrganization = "Happy Paws Clinic"
    assert "ResponsiblePerson" not in _basic(ds)  # a human patient: X
    ds.PatientSpeciesDescription = "Canis lupus familiaris"
    out = _basic(ds)
    assert out["ResponsiblePerson"].is_empty and out["ResponsibleOrganization"].is_empty


def test_strict_removes_what_is_neither_listed_nor_allowed() -> None:
    ct = corpus()["CT"]
    assert resolve("strict").allow_list and not resolve("basic").allow_list
    basic, strict = _basic(ct), _basic(ct, "strict")
    assert basic.AcquisitionProtocolName == "CT protocol for HOLLOWAY"
    assert "AcquisitionProtocolName" not in strict
    # Issuer sequences: kept by the Basic Profile (the table does not list them), gone in strict.
    assert basic.IssuerOfAccessionNumberSequence[0].LocalNamespaceEntityID == "St Elsewhere Radiology"
    assert "IssuerOfAccessionNumberSequence" not in strict
    assert "IssuerOfPatientIDQualifiersSequence" not in strict
    # The allow-list keeps the image: pixel module, geometry, technique.
    for keyword in ("PixelData", "Rows", "ImagePositionPatient", "PixelSpacing", "KVP", "RescaleSlope"):
        assert strict[keyword].value == ct[keyword].value, keyword
    assert strict.SOPClassUID == ct.SOPClassUID and strict.Modality == "CT"


def test_strict_scrubs_every_text_value_left() -> None:
    ct = corpus()["CT"]
    ct.FilterType = "HOLLOWAY SOFT"  # allow-listed (CT Image module), yet carrying the name
    assert 0x00181160 in ALLOWED
    assert _basic(ct, "strict").FilterType == "SOFT"
    assert _basic(ct).FilterType == "HOLLOWAY SOFT"


def test_every_allow_list_entry_names_its_source() -> None:
    table = resolve("basic").codes
    assert len(ALLOWED) > 500
    assert all(source.startswith("PS3.3 ") and " module: " in source for source in ALLOWED.values())
    assert not set(ALLOWED) & set(table)  # the table's rows always win: none is allow-listed
