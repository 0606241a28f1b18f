"""A synthetic DICOM corpus: made-up patients, realistic structure, no real patient data.

``write_corpus(folder)`` writes several patients/studies/series across modalities (CT, MR, CR, DX,
US, SC) in 64x64 and 512x512 sizes and in every transfer syntax this machine can encode (Explicit
and Implicit VR Little Endian, RLE Lossless, JPEG Baseline for 8-bit images, JPEG 2000 Lossless when
Pillow has OpenJPEG), and returns a ``Corpus`` describing every file. ``make_dataset`` builds one
instance in memory. ``write_truncated`` and ``write_garbage`` make bad input.

Usable outside pytest (a benchmark script can ``from tests.factories import write_corpus``).
"""

from __future__ import annotations

import io
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    MRImageStorage,
    RLELossless,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    generate_uid,
)

from axiom.domain.instances import OutgoingInstance

SMALL = 64
LARGE = 512


@dataclass(frozen=True)
class Modality:
    code: str
    sop_class_uid: UID
    bits: int  # 8 or 16 bits allocated
    body_part: str
    description: str


MODALITIES: dict[str, Modality] = {
    m.code: m
    for m in (
        Modality("CT", CTImageStorage, 16, "CHEST", "CT CHEST W CONTRAST"),
        Modality("MR", MRImageStorage, 16, "BRAIN", "MR BRAIN WO"),
        Modality("CR", ComputedRadiographyImageStorage, 16, "HAND", "XR HAND 2 VIEWS"),
        Modality("DX", DigitalXRayImageStorageForPresentation, 16, "CHEST", "XR CHEST PA AND LAT"),
        Modality("US", UltrasoundImageStorage, 8, "ABDOMEN", "US ABDOMEN COMPLETE"),
        Modality("OT", SecondaryCaptureImageStorage, 8, "", "SCREEN CAPTURE"),
    )
}


@dataclass(frozen=True)
class StudySpec:
    """One study: its modality and the number of instances in each of its series."""

    modality: str
    series: tuple[int, ...]


DEFAULT_STUDIES: tuple[StudySpec, ...] = (
    StudySpec("CT", (6, 6)),
    StudySpec("MR", (5, 5)),
    StudySpec("CR", (2,)),
    StudySpec("DX", (2,)),
    StudySpec("US", (6,)),
    StudySpec("OT", (4,)),
    StudySpec("CT", (8,)),
    StudySpec("US", (4,)),
)  # 48 instances


@dataclass(frozen=True)
class FakePatient:
    name: str
    patient_id: str
    birth_date: str
    sex: str


_FAMILY = ("DOE", "ROE", "POE", "MOE", "TESTER", "SAMPLE", "PHANTOM", "EXAMPLE")
_GIVEN = ("JANE", "JOHN", "ALEX", "SAM", "KIM", "LEE", "ROBIN", "PAT")


@dataclass(frozen=True)
class InstanceInfo:
    path: Path
    patient_id: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    modality: str
    rows: int
    columns: int
    bits_allocated: int


@dataclass(frozen=True)
class Corpus:
    root: Path
    instances: tuple[InstanceInfo, ...]
    patients: tuple[FakePatient, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.instances)

    def __iter__(self) -> Iterator[InstanceInfo]:
        return iter(self.instances)

    @property
    def paths(self) -> list[Path]:
        return [i.path for i in self.instances]

    @property
    def sop_instance_uids(self) -> set[str]:
        return {i.sop_instance_uid for i in self.instances}

    @property
    def study_instance_uids(self) -> set[str]:
        return {i.study_instance_uid for i in self.instances}

    @property
    def series_instance_uids(self) -> set[str]:
        return {i.series_instance_uid for i in self.instances}

    @property
    def sop_classes(self) -> set[str]:
        return {i.sop_class_uid for i in self.instances}

    @property
    def transfer_syntaxes(self) -> set[str]:
        return {i.transfer_syntax_uid for i in self.instances}

    def with_transfer_syntax(self, uid: str) -> list[InstanceInfo]:
        return [i for i in self.instances if i.transfer_syntax_uid == uid]


@cache
def jpeg2000_available() -> bool:
    """True when Pillow was built with OpenJPEG, so JPEG 2000 files can be made here."""
    try:
        from PIL import features
    except ImportError:
        return False
    return bool(features.check("jpg_2000"))


@cache
def jpeg_available() -> bool:
    try:
        from PIL import features
    except ImportError:
        return False
    return bool(features.check("jpg"))


def available_transfer_syntaxes() -> tuple[UID, ...]:
    """Every syntax the factory can write on this machine, uncompressed first."""
    syntaxes = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless]
    if jpeg_available():
        syntaxes.append(JPEGBaseline8Bit)
    if jpeg2000_available():
        syntaxes.append(JPEG2000Lossless)
    return tuple(syntaxes)


def fake_patient(index: int) -> FakePatient:
    given = _GIVEN[index % len(_GIVEN)]
    family = _FAMILY[(index // len(_GIVEN)) % len(_FAMILY)]
    birth = date(1940, 1, 1) + timedelta(days=(index * 3643) % 25000)
    return FakePatient(
        name=f"{family}^{given}",
        patient_id=f"AXP{index:06d}",
        birth_date=birth.strftime("%Y%m%d"),
        sex="FM"[index % 2],
    )


def _pixels(rows: int, columns: int, bits: int, variant: int) -> np.ndarray:
    """A smooth phantom (disc on a gradient) with a little structure: cheap, compressible, not flat."""
    y, x = np.mgrid[0:rows, 0:columns]
    cy, cx = rows / 2 + (variant % 7) - 3, columns / 2 - (variant % 5) + 2
    disc = ((y - cy) ** 2 + (x - cx) ** 2) < (min(rows, columns) / 3) ** 2
    top = 255 if bits == 8 else 4095
    image = (x * top // max(columns - 1, 1)) // 2 + disc * (top // 2) + ((x ^ y) & 7)
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.clip(image, 0, top).astype(dtype)


def _uid(seed: int | None, *parts: object) -> UID:
    if seed is None:
        return generate_uid()
    return generate_uid(entropy_srcs=[str(seed), *map(str, parts)])


def make_dataset(
    *,
    modality: str = "CT",
    rows: int = SMALL,
    columns: int = SMALL,
    transfer_syntax: str = ExplicitVRLittleEndian,
    patient: FakePatient | None = None,
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_instance_uid: str | None = None,
    series_number: int = 1,
    instance_number: int = 1,
    series_size: int = 1,
    study_series: int = 1,
    study_instances: int = 1,
    accession: str = "ACC0000001",
    study_datetime: datetime | None = None,
    variant: int = 0,
) -> FileDataset:
    """One complete image instance (patient, study, series, equipment, image modules) in memory.

    The dataset is already encoded for ``transfer_syntax`` (its file meta and pixel data agree), so
    ``dcmwrite(path, ds, enforce_file_format=True)`` writes a valid Part 10 file.
    """
    spec = MODALITIES[modality]
    patient = patient or fake_patient(0)
    when = study_datetime or datetime(2024, 3, 14, 9, 26, 53)
    sop_uid = UID(sop_instance_uid or generate_uid())

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = spec.sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\x00" * 128)

    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", *(["AXIAL"] if modality in ("CT", "MR") else [])]
    ds.SOPClassUID = spec.sop_class_uid
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = when.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = when.strftime("%H%M%S")
    ds.ContentTime = (when + timedelta(seconds=instance_number)).strftime("%H%M%S.%f")
    ds.AccessionNumber = accession
    ds.Modality = modality
    if modality == "OT":
        ds.ConversionType = "WSD"
    ds.Manufacturer = "AXIOM SYNTHETIC"
    ds.InstitutionName = "Example General Hospital"
    ds.ReferringPhysicianName = "REFERRER^ALEX"
    ds.StationName = f"{modality}01"
    ds.StudyDescription = spec.description
    ds.SeriesDescription = f"{spec.description} S{series_number}"
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.IssuerOfPatientID = "AXIOM-TEST"
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    if spec.body_part:
        ds.BodyPartExamined = spec.body_part
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyID = accession[-6:]
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.NumberOfStudyRelatedSeries = study_series
    ds.NumberOfStudyRelatedInstances = study_instances
    ds.NumberOfSeriesRelatedInstances = series_size
    if modality in ("CT", "MR"):
        ds.FrameOfReferenceUID = generate_uid(entropy_srcs=["frame-of-reference", str(ds.SeriesInstanceUID)])
        ds.PatientPosition = "HFS"
        ds.ImagePositionPatient = [-125.0, -125.0, float(instance_number) * 2.5]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.SliceThickness = 2.5
        ds.SliceLocation = float(instance_number) * 2.5
    if modality in ("CT", "MR"):
        ds.PositionReferenceIndicator = ""
        ds.AcquisitionNumber = 1
    else:
        # Projection and secondary-capture images carry an orientation instead of a plane.
        ds.PatientOrientation = ["A", "F"]
    # Laterality: the hand is a paired part; secondary captures name no body part, so say "unknown".
    if modality == "CR":
        ds.Laterality = "R"
    elif modality == "OT":
        ds.Laterality = ""
    if modality == "CR":
        ds.ViewPosition = "PA"
    if modality in ("CT", "MR", "CR", "DX"):
        ds.PixelSpacing = [250.0 / rows, 250.0 / columns]
    if modality == "CT":
        ds.KVP = 120
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
    if modality == "MR":
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = 500
        ds.EchoTime = 15
        ds.EchoTrainLength = 1
        ds.MagneticFieldStrength = 1.5
    if modality == "DX":
        _dx_attributes(ds, rows, columns)

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = spec.bits
    ds.BitsStored = spec.bits
    ds.HighBit = spec.bits - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = 128 if spec.bits == 8 else 2048
    ds.WindowWidth = 256 if spec.bits == 8 else 4096

    pixels = _pixels(rows, columns, spec.bits, variant)
    _encode_pixels(ds, pixels, UID(transfer_syntax))
    return ds


def _dx_attributes(ds: FileDataset, rows: int, columns: int) -> None:
    """The DX Image, Anatomy and Detector modules' required attributes (a chest PA)."""
    region = Dataset()
    region.CodeValue = "51185008"
    region.CodingSchemeDesignator = "SCT"
    region.CodeMeaning = "Chest"
    ds.AnatomicRegionSequence = [region]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageLaterality = "U"
    ds.PixelIntensityRelationship = "LIN"
    ds.PixelIntensityRelationshipSign = 1
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"
    ds.DetectorType = "DIRECT"
    ds.ImagerPixelSpacing = [430.0 / rows, 430.0 / columns]
    ds.AcquisitionContextSequence = []


def _encode_pixels(ds: FileDataset, pixels: np.ndarray, syntax: UID) -> None:
    if syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        ds.PixelData = pixels.tobytes()
        ds["PixelData"].VR = "OB" if pixels.dtype == np.uint8 else "OW"
        ds.file_meta.TransferSyntaxUID = syntax
        return
    if syntax == RLELossless:
        # pydicom's own RLE encoder; keep the UID: RLE is lossless, so this is the same instance.
        ds.compress(RLELossless, pixels, generate_instance_uid=False)
        return
    if syntax == JPEGBaseline8Bit:
        if pixels.dtype != np.uint8:
            raise ValueError("JPEG Baseline holds 8-bit images only")
        frame = _pillow_encode(pixels, "JPEG", quality=90)
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        ds.LossyImageCompressionRatio = round(pixels.nbytes / len(frame), 2)
    elif syntax == JPEG2000Lossless:
        frame = _pillow_encode(pixels, "JPEG2000", no_jp2=True, irreversible=False)
    else:
        raise ValueError(f"the factory cannot write transfer syntax {syntax}")
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = syntax


def _pillow_encode(pixels: np.ndarray, fmt: str, **options: object) -> bytes:
    from PIL import Image  # optional: only needed for the JPEG syntaxes

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def write_instance(ds: FileDataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    dcmwrite(path, ds, enforce_file_format=True)
    return path


def write_corpus(
    folder: Path,
    *,
    studies: Sequence[StudySpec] = DEFAULT_STUDIES,
    transfer_syntaxes: Sequence[str] | None = None,
    large_every: int = 5,
    patients: int = 3,
    seed: int | None = None,
) -> Corpus:
    """Write a synthetic corpus under ``folder`` and describe it.

    Transfer syntaxes rotate instance by instance (JPEG Baseline only for 8-bit modalities), and
    every ``large_every``-th rotation (the first included) is 512x512 (0: all 64x64), so even a
    small corpus holds every syntax at both sizes. With ``seed`` the UIDs are reproducible; without it they are fresh.
    Files are laid out as ``<study>/<series>/<n>.dcm`` with opaque names (no PHI in paths).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    syntaxes = [UID(s) for s in (transfer_syntaxes or available_transfer_syntaxes())]
    wide = [s for s in syntaxes if s != JPEGBaseline8Bit]
    rng = random.Random(seed)
    people = tuple(fake_patient(i + (seed or 0) * 7) for i in range(max(patients, 1)))
    counters = {8: itertools.count(), 16: itertools.count()}
    infos: list[InstanceInfo] = []

    for study_no, study in enumerate(studies):
        spec = MODALITIES[study.modality]
        patient = people[study_no % len(people)]
        study_uid = _uid(seed, "study", study_no)
        when = datetime(2024, 1, 1, 8, 0, 0) + timedelta(days=rng.randrange(365), minutes=rng.randrange(600))
        choices = syntaxes if spec.bits == 8 else wide
        for series_no, size in enumerate(study.series, start=1):
            series_uid = _uid(seed, "series", study_no, series_no)
            for number in range(1, size + 1):
                n = next(counters[spec.bits])
                syntax = choices[n % len(choices)] if choices else ExplicitVRLittleEndian
                # A whole rotation through the syntaxes is large, so each syntax comes in both sizes.
                rotation = n // max(len(choices), 1)
                edge = LARGE if large_every and rotation % large_every == 0 else SMALL
                ds = make_dataset(
                    modality=study.modality,
                    rows=edge,
                    columns=edge,
                    transfer_syntax=syntax,
                    patient=patient,
                    study_uid=study_uid,
                    series_uid=series_uid,
                    sop_instance_uid=_uid(seed, "instance", study_no, series_no, number),
                    series_number=series_no,
                    instance_number=number,
                    series_size=size,
                    study_series=len(study.series),
                    study_instances=sum(study.series),
                    accession=f"ACC{study_no + (seed or 0) * 1000:07d}",
                    study_datetime=when,
                    variant=n,
                )
                path = write_instance(
                    ds, folder / f"st{study_no:03d}" / f"se{series_no:03d}" / f"{number:04d}.dcm"
                )
                infos.append(
                    InstanceInfo(
                        path=path,
                        patient_id=patient.patient_id,
                        study_instance_uid=study_uid,
                        series_instance_uid=series_uid,
                        sop_instance_uid=str(ds.SOPInstanceUID),
                        sop_class_uid=spec.sop_class_uid,
                        transfer_syntax_uid=syntax,
                        modality=study.modality,
                        rows=edge,
                        columns=edge,
                        bits_allocated=spec.bits,
                    )
                )
    return Corpus(root=folder, instances=tuple(infos), patients=people)


def outgoing_instance(path: Path, *, keep_source: bool = True) -> OutgoingInstance:
    """What a destination receives for the file at ``path``: the read dataset, and the file itself
    as ``source_file`` unless ``keep_source`` is False (as after a rule changed the dataset)."""
    ds = dcmread(path)
    return OutgoingInstance(
        dataset=ds,
        source_file=Path(path) if keep_source else None,
        sop_instance_uid=str(ds.SOPInstanceUID),
        study_instance_uid=str(ds.StudyInstanceUID),
    )


def write_truncated(source: Path, target: Path, *, keep: float = 0.5) -> Path:
    """A copy of ``source`` cut after ``keep`` of its bytes: the header parses, the data ends early."""
    data = Path(source).read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data[: max(int(len(data) * keep), 1)])
    return target


def write_garbage(target: Path, *, size: int = 4096, seed: int = 0) -> Path:
    """Random bytes that are not DICOM (no preamble, no DICM magic)."""
    data = bytearray(random.Random(seed).randbytes(size))
    if data[128:132] == b"DICM":
        data[128] ^= 0xFF
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(bytes(data))
    return target
