"""A model's finding as a DICOM Basic Text SR that references the instance it was computed on.

Built from the outgoing copy (after the rules' edits and anonymization), so the document carries the
same patient and study identity the destination receives for the image. Same study, a series of its
own; the UIDs are derived (pydicom's ``generate_uid`` with a fixed prefix) from the referenced
instance, the model and its version, so a rerun sends the same document again rather than a second.
"""

from __future__ import annotations

from datetime import datetime

from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from rules.model import InferenceResult

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
# pydicom's own root: UIDs generated under it are unique by construction of their hash.
UID_PREFIX = "1.2.826.0.1.3680043.8.498."
SERIES_NUMBER = 9073
_PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)
_CARRIED_IF_PRESENT = ("PatientIdentityRemoved", "DeidentificationMethod", "IssuerOfPatientID")


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _text(relationship: str, concept: Dataset, text: str) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = "TEXT"
    item.ConceptNameCodeSequence = Sequence([concept])
    item.TextValue = text
    return item


def _sop_ref(class_uid: str, instance_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = class_uid
    item.ReferencedSOPInstanceUID = instance_uid
    return item


def report_uids(referenced_uid: str, model: str, version: str) -> tuple[str, str]:
    """(series UID, SOP Instance UID) of the report on ``referenced_uid`` by ``model`` ``version``."""
    series = generate_uid(UID_PREFIX, entropy_srcs=["axiom-sr-series", referenced_uid, model, version])
    instance = generate_uid(UID_PREFIX, entropy_srcs=["axiom-sr", referenced_uid, model, version])
    return series, instance


def finding_report(source: Dataset, model: str, result: InferenceResult, now: datetime) -> Dataset:
    """The Basic Text SR holding ``result`` of ``model`` on ``source`` (the outgoing copy)."""
    referenced_class = str(source.SOPClassUID)
    referenced_uid = str(source.SOPInstanceUID)
    series_uid, instance_uid = report_uids(referenced_uid, model, result.version)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = instance_uid
    for keyword in _PATIENT_STUDY:
        setattr(ds, keyword, source.get(keyword, ""))
    for keyword in _CARRIED_IF_PRESENT:
        if keyword in source:
            setattr(ds, keyword, source[keyword].value)
    ds.Modality = "SR"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = SERIES_NUMBER
    ds.SeriesDescription = f"AI finding: {model}"[:64]
    ds.ReferencedPerformedProcedureStepSequence = Sequence()
    ds.Manufacturer = "Axiom"
    ds.InstanceNumber = 1
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = Sequence()

    evidence_series = Dataset()
    evidence_series.SeriesInstanceUID = str(source.get("SeriesInstanceUID", ""))
    evidence_series.ReferencedSOPSequence = Sequence([_sop_ref(referenced_class, referenced_uid)])
    evidence = Dataset()
    evidence.StudyInstanceUID = str(source.get("StudyInstanceUID", ""))
    evidence.ReferencedSeriesSequence = Sequence([evidence_series])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([evidence])

    score = result.scores.get(result.label, 0.0)
    image = Dataset()
    image.RelationshipType = "INFERRED FROM"
    image.ValueType = "IMAGE"
    image.ReferencedSOPSequence = Sequence([_sop_ref(referenced_class, referenced_uid)])
    finding = _text("CONTAINS", _code("121071", "DCM", "Finding"), result.label)
    finding.ContentSequence = Sequence([image])
    scores = "; ".join(f"{name}={value:.4f}" for name, value in result.scores.items())
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([_code("18748-4", "LN", "Diagnostic Imaging Report")])
    ds.ContinuityOfContent = "SEPARATE"
    ds.ContentSequence = Sequence(
        [
            finding,
            _text("CONTAINS", _code("121106", "DCM", "Comment"), f"score {score:.4f} ({scores})"),
            _text("CONTAINS", _code("111001", "DCM", "Algorithm Name"), model),
            _text("CONTAINS", _code("111003", "DCM", "Algorithm Version"), result.version or "-"),
        ]
    )

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(BASIC_TEXT_SR)
    meta.MediaStorageSOPInstanceUID = UID(instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds
