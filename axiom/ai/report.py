"""A model's finding as a DICOM document that references the instance it was computed on: a Basic
Text SR (the finding, its score, the algorithm) or a Key Object Selection document (the instance
flagged "Of Interest" with the finding as its description, as PACS viewers show key images).

Built from the outgoing copy (after the rules' edits and anonymization), so the document carries the
same patient and study identity the destination receives for the image. Same study, a series of its
own; the UIDs are derived (pydicom's ``generate_uid`` with a fixed prefix) from the referenced
instance, the model and its version, so a rerun sends the same document again rather than a second.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from rules.model import InferenceResult

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"
# pydicom's own root: UIDs generated under it are unique by construction of their hash.
UID_PREFIX = "1.2.826.0.1.3680043.8.498."
SERIES_NUMBER = 9073
KO_SERIES_NUMBER = 9074
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


def report_uids(referenced_uid: str, model: str, version: str, kind: str = "sr") -> tuple[str, str]:
    """(series UID, SOP Instance UID) of the ``kind`` document on ``referenced_uid`` by ``model``."""
    series = generate_uid(UID_PREFIX, entropy_srcs=[f"axiom-{kind}-series", referenced_uid, model, version])
    instance = generate_uid(UID_PREFIX, entropy_srcs=[f"axiom-{kind}", referenced_uid, model, version])
    return series, instance


def _document(
    source: Dataset, sop_class: str, kind: str, model: str, version: str, now: datetime
) -> tuple[Dataset, Dataset]:
    """The header shared by both documents and the IMAGE content item referencing ``source``."""
    referenced_class = str(source.SOPClassUID)
    referenced_uid = str(source.SOPInstanceUID)
    series_uid, instance_uid = report_uids(referenced_uid, model, version, kind)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = instance_uid
    for keyword in _PATIENT_STUDY:
        setattr(ds, keyword, source.get(keyword, ""))
    for keyword in _CARRIED_IF_PRESENT:
        if keyword in source:
            setattr(ds, keyword, source[keyword].value)
    ds.SeriesInstanceUID = series_uid
    ds.ReferencedPerformedProcedureStepSequence = Sequence()
    ds.Manufacturer = "Axiom"
    ds.InstanceNumber = 1
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")

    evidence_series = Dataset()
    evidence_series.SeriesInstanceUID = str(source.get("SeriesInstanceUID", ""))
    evidence_series.ReferencedSOPSequence = Sequence([_sop_ref(referenced_class, referenced_uid)])
    evidence = Dataset()
    evidence.StudyInstanceUID = str(source.get("StudyInstanceUID", ""))
    evidence.ReferencedSeriesSequence = Sequence([evidence_series])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([evidence])
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta

    image = Dataset()
    image.ValueType = "IMAGE"
    image.ReferencedSOPSequence = Sequence([_sop_ref(referenced_class, referenced_uid)])
    return ds, image


def _scores(result: InferenceResult) -> str:
    score = result.scores.get(result.label, 0.0)
    scores = "; ".join(f"{name}={value:.4f}" for name, value in result.scores.items())
    return f"score {score:.4f} ({scores})"


def finding_report(source: Dataset, model: str, result: InferenceResult, now: datetime) -> Dataset:
    """The Basic Text SR holding ``result`` of ``model`` on ``source`` (the outgoing copy)."""
    ds, image = _document(source, BASIC_TEXT_SR, "sr", model, result.version, now)
    ds.Modality = "SR"
    ds.SeriesNumber = SERIES_NUMBER
    ds.SeriesDescription = f"AI finding: {model}"[:64]
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = Sequence()
    image.RelationshipType = "INFERRED FROM"
    finding = _text("CONTAINS", _code("121071", "DCM", "Finding"), result.label)
    finding.ContentSequence = Sequence([image])
    ds.ConceptNameCodeSequence = Sequence([_code("18748-4", "LN", "Diagnostic Imaging Report")])
    ds.ContentSequence = Sequence(
        [
            finding,
            _text("CONTAINS", _code("121106", "DCM", "Comment"), _scores(result)),
            _text("CONTAINS", _code("111001", "DCM", "Algorithm Name"), model),
            _text("CONTAINS", _code("111003", "DCM", "Algorithm Version"), result.version or "-"),
        ]
    )
    return ds


def key_object(source: Dataset, model: str, result: InferenceResult, now: datetime) -> Dataset:
    """A Key Object Selection document (TID 2010) flagging ``source`` "Of Interest" with the finding."""
    ds, image = _document(source, KEY_OBJECT_SELECTION, "ko", model, result.version, now)
    ds.Modality = "KO"
    ds.SeriesNumber = KO_SERIES_NUMBER
    ds.SeriesDescription = f"AI key images: {model}"[:64]
    # CID 7010 "Of Interest": the title viewers list key images under.
    ds.ConceptNameCodeSequence = Sequence([_code("113000", "DCM", "Of Interest")])
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "2010"
    ds.ContentTemplateSequence = Sequence([template])
    image.RelationshipType = "CONTAINS"
    description = f"{model} {result.version or '-'}: {result.label}, {_scores(result)}"
    ds.ContentSequence = Sequence(
        [_text("CONTAINS", _code("113012", "DCM", "Key Object Description"), description[:1024]), image]
    )
    return ds


# The builder of each document kind an ``infer`` action can ask for (rules.engine.DocumentKind).
DOCUMENT_BUILDERS: dict[str, Callable[[Dataset, str, InferenceResult, datetime], Dataset]] = {
    "sr": finding_report,
    "ko": key_object,
}
