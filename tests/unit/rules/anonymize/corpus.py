"""A synthetic corpus of real IODs carrying identity where real instances do.

CT, MR and US images (tests.factories) with overlays and a curve whose text names the patient,
issuer sequences and an attribute Table E.1-1 does not list; an SR measurement report, a Key Object
Selection and a Segmentation built by highdicom over the CT; an RT Structure Set built here. The
patient's name and MRN are planted in the SR's free text, the KO's description, the overlay texts,
and a non-table attribute, so a test can look for them in the output bytes.
"""

from __future__ import annotations

import copy
import io
from functools import cache

import highdicom as hd
import numpy as np
from pydicom import Dataset, FileMetaDataset, dcmread, dcmwrite
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.factories import FakePatient, make_dataset

PATIENT = FakePatient(patient_id="MRN-40417", name="HOLLOWAY^MARGARET", birth_date="19510203", sex="F")
# Strings that must not survive anywhere in a de-identified instance.
IDENTITY = ("HOLLOWAY", "MARGARET", "MRN-40417", "St Elsewhere Radiology", "4 Harbour Road")
ORIGIN = "1.2.826.0.1.3680043.10.1159"


def _uid(*parts: object) -> str:
    return generate_uid(prefix=None, entropy_srcs=[ORIGIN, *map(str, parts)])


def _with_identity(ds: Dataset, modality: str) -> Dataset:
    ds.InstitutionName = "St Elsewhere Radiology"
    ds.InstitutionAddress = "4 Harbour Road"
    ds.OperatorsName = "TECH^TERRY"
    ds.DeviceSerialNumber = "SN-88812"
    issuer = Dataset()
    issuer.LocalNamespaceEntityID = "St Elsewhere Radiology"
    ds.IssuerOfAccessionNumberSequence = Sequence([issuer])
    qualifiers = Dataset()
    qualifiers.UniversalEntityID = "1.2.3.4.555"
    qualifiers.UniversalEntityIDType = "ISO"
    ds.IssuerOfPatientIDQualifiersSequence = Sequence([qualifiers])
    # Not in Table E.1-1, not allow-listed: kept by the Basic Profile, removed by strict.
    ds.AcquisitionProtocolName = f"{modality} protocol for HOLLOWAY"
    return ds


def _overlay(ds: Dataset) -> None:
    rows, columns = int(ds.Rows), int(ds.Columns)
    ds.add_new(0x60000010, "US", rows)
    ds.add_new(0x60000011, "US", columns)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60000022, "LO", "Marked by HOLLOWAY^MARGARET")  # Overlay Description
    ds.add_new(0x60001500, "LO", "MRN-40417 arrow")  # Overlay Label
    ds.add_new(0x60003000, "OW", np.packbits(np.zeros(rows * columns, np.uint8), bitorder="little").tobytes())


def _image(modality: str, number: int) -> Dataset:
    ds = make_dataset(
        modality=modality,
        patient=PATIENT,
        study_uid=_uid("study"),
        series_uid=_uid("series", modality),
        sop_instance_uid=_uid("instance", modality, number),
        instance_number=number,
    )
    _with_identity(ds, modality)
    _overlay(ds)
    if modality == "CT":
        ds.add_new(0x50000005, "US", 1)  # Curve Dimensions
        ds.add_new(0x50002500, "LO", "HOLLOWAY curve")  # Curve Label
    return ds


def _sr(ct: Dataset) -> Dataset:
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name="READER^RITA"),
    )
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POINT,
        graphic_data=np.array([[10.0, 10.0]]),
        source_image=hd.sr.SourceImageForRegion(
            referenced_sop_class_uid=ct.SOPClassUID, referenced_sop_instance_uid=ct.SOPInstanceUID
        ),
    )
    group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=_uid("tracking"), identifier="lesion of HOLLOWAY"),
        referenced_region=region,
        finding_type=codes.SCT.Lesion,
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[group],
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[ct],
        content=report[0],
        series_instance_uid=_uid("series", "SR"),
        series_number=20,
        sop_instance_uid=_uid("instance", "SR"),
        instance_number=1,
        manufacturer="AXIOM SYNTHETIC",
        institution_name="St Elsewhere Radiology",
        verifying_observer_name="READER^RITA",
        verifying_organization="St Elsewhere Radiology",
        is_complete=True,
        is_final=True,
        is_verified=True,
    )
    note = hd.sr.TextContentItem(
        name=hd.sr.CodedConcept("121106", "DCM", "Comment"),
        value="Seen with HOLLOWAY MARGARET, MRN-40417, at 4 Harbour Road",
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
    )
    sr.ContentSequence.append(note)
    return sr


def _ko(ct: Dataset) -> Dataset:
    content = hd.ko.KeyObjectSelection(
        document_title=codes.DCM.OfInterest,
        referenced_objects=[ct],
        description="Key images for HOLLOWAY MARGARET",
    )
    return hd.ko.KeyObjectSelectionDocument(
        evidence=[ct],
        content=content,
        series_instance_uid=_uid("series", "KO"),
        series_number=21,
        sop_instance_uid=_uid("instance", "KO"),
        instance_number=1,
        manufacturer="AXIOM SYNTHETIC",
        institution_name="St Elsewhere Radiology",
    )


def _seg(ct: Dataset) -> Dataset:
    mask = np.zeros((1, int(ct.Rows), int(ct.Columns)), np.uint8)
    mask[0, 4:12, 4:12] = 1
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="lesion",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    return hd.seg.Segmentation(
        source_images=[ct],
        pixel_array=mask,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment],
        series_instance_uid=_uid("series", "SEG"),
        series_number=22,
        sop_instance_uid=_uid("instance", "SEG"),
        instance_number=1,
        manufacturer="AXIOM SYNTHETIC",
        manufacturer_model_name="corpus",
        software_versions="1",
        device_serial_number="SN-SEG-77",
        content_creator_name="READER^RITA",
    )


def _rtstruct(ct: Dataset) -> Dataset:
    ds = make_dataset(modality="CT", patient=PATIENT, study_uid=ct.StudyInstanceUID)
    for keyword in [e.keyword for e in ds if e.tag.group in (0x0018, 0x0020, 0x0028, 0x7FE0)]:
        if keyword not in (
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "StudyID",
            "SeriesNumber",
            "InstanceNumber",
        ):
            delattr(ds, keyword)
    for keyword in ("ImageType", "ContentDate", "ContentTime", "BodyPartExamined"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = _uid("instance", "RTSTRUCT")
    ds.SeriesInstanceUID = _uid("series", "RTSTRUCT")
    ds.Modality = "RTSTRUCT"
    ds.OperatorsName = "PLANNER^PAT"
    ds.StructureSetLabel = "HOLLOWAY plan"
    ds.StructureSetName = "MRN-40417"
    ds.StructureSetDate, ds.StructureSetTime = "20240314", "093000"
    image = Dataset()
    image.ReferencedSOPClassUID, image.ReferencedSOPInstanceUID = ct.SOPClassUID, ct.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = ct.SeriesInstanceUID
    series.ContourImageSequence = Sequence([image])
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study.ReferencedSOPInstanceUID = ct.StudyInstanceUID
    study.RTReferencedSeriesSequence = Sequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = ct.FrameOfReferenceUID
    frame.RTReferencedStudySequence = Sequence([study])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame])
    roi = Dataset()
    roi.ROINumber, roi.ReferencedFrameOfReferenceUID = 1, ct.FrameOfReferenceUID
    roi.ROIName, roi.ROIGenerationAlgorithm = "GTV HOLLOWAY", "MANUAL"
    ds.StructureSetROISequence = Sequence([roi])
    contour = Dataset()
    contour.ContourGeometricType, contour.NumberOfContourPoints = "POINT", 1
    contour.ContourData = [0.0, 0.0, float(ct.ImagePositionPatient[2])]
    contour.ContourImageSequence = Sequence([image])
    roi_contour = Dataset()
    roi_contour.ReferencedROINumber, roi_contour.ROIDisplayColor = 1, [255, 0, 0]
    roi_contour.ContourSequence = Sequence([contour])
    ds.ROIContourSequence = Sequence([roi_contour])
    observation = Dataset()
    observation.ObservationNumber, observation.ReferencedROINumber = 1, 1
    observation.RTROIInterpretedType, observation.ROIInterpreter = "GTV", "READER^RITA"
    ds.RTROIObservationsSequence = Sequence([observation])
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = ct.FrameOfReferenceUID, ""
    ds.ApprovalStatus = "UNAPPROVED"
    return ds


def _as_file(ds: Dataset) -> Dataset:
    if not hasattr(ds, "file_meta"):
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    # As a receiver sees it: decoded from Part 10 bytes (plain strings, not highdicom's objects).
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    buffer.seek(0)
    return dcmread(buffer)


def corpus() -> dict[str, Dataset]:
    """name -> instance: a fresh copy of the corpus, built once per process, for each caller."""
    return {name: copy.deepcopy(ds) for name, ds in _built().items()}


@cache
def _built() -> dict[str, Dataset]:
    ct = _image("CT", 1)
    found = {"CT": ct, "MR": _image("MR", 1), "US": _image("US", 1)}
    found |= {"SR": _sr(ct), "KO": _ko(ct), "SEG": _seg(ct), "RTSTRUCT": _rtstruct(ct)}
    for name in ("SR", "KO", "SEG"):
        _with_identity(found[name], name)
    return {name: _as_file(ds) for name, ds in found.items()}
