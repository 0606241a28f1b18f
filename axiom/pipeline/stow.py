"""STOW-RS (PS3.18 10.5): a multipart/related body of Part 10 instances, stored like C-STORE.

The body is parsed incrementally (python-multipart's streaming parser); each part goes to a temp file
as it arrives, so memory holds one chunk, never a study. Only a body whose multipart framing is whole
is stored: a truncated or garbled body is refused outright (``StowRequestError``, a 4xx) and nothing
of it is queued, so the client can simply send it again. Then each part is stored on its own through
``ingest_instance``: a malformed part is quarantined with an exception row and reported in the
FailedSOPSequence while the good parts are accepted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

import structlog
from pydicom import dcmread
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.uid import UID
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from axiom.pipeline.ingest import Arrival, IngestPorts, ingest_instance, ingest_unparsable

log = structlog.get_logger("axiom.stowrs")

SOURCE = "stowrs"
DICOM = "application/dicom"
# PS3.18 Table 10.5.3-3 failure reasons (besides the DICOM statuses ingest answers).
CANNOT_UNDERSTAND = 0xC000
STUDY_UID_MISMATCH = 0xC409
PROCESSING_FAILURE = 0x0110
UNSUPPORTED_PART_TYPE = 0x0122  # "Referenced SOP Class not supported" stands for a non-DICOM part
MAX_PARTS = 10_000
MAX_PART_HEADERS = 16


class StowRequestError(ValueError):
    """The request as a whole cannot be read: answered with ``status`` and this message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary, after checking the request is multipart/related of DICOM parts."""
    if not content_type:
        raise StowRequestError("Content-Type is required: multipart/related; type=application/dicom", 415)
    media, params = parse_options_header(content_type)
    if media.lower() != b"multipart/related":
        raise StowRequestError(
            "STOW-RS takes multipart/related; type=application/dicom (got another media type)", 415
        )
    part_type = params.get(b"type", b"").strip(b'"').lower()
    if part_type and part_type != DICOM.encode():
        raise StowRequestError(
            "only application/dicom parts are accepted (no metadata + bulk data requests)", 415
        )
    boundary = params.get(b"boundary", b"").strip(b'"')
    if not boundary or len(boundary) > 200:
        raise StowRequestError("the multipart/related Content-Type names no usable boundary", 400)
    return boundary


@dataclass
class ReceivedPart:
    path: Path
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        media, _ = parse_options_header(self.headers.get("content-type", DICOM))
        return media.decode("latin-1").lower()


class PartCollector:
    """Feeds the body to the streaming parser and writes each part to a file of its own in ``folder``."""

    def __init__(self, boundary: bytes, folder: Path, max_part_bytes: int = 1 << 62) -> None:
        self.folder = folder
        self.max_part_bytes = max_part_bytes
        self._part_bytes = 0
        self.parts: list[ReceivedPart] = []
        self.ended = False
        self._file: IO[bytes] | None = None
        self._field = b""
        self._value = b""
        self._headers: dict[str, str] = {}
        self._received = 0
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_part_data": self._data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
            max_header_count=MAX_PART_HEADERS,
        )

    def _begin(self) -> None:
        if len(self.parts) >= MAX_PARTS:
            raise StowRequestError(f"more than {MAX_PARTS} parts in one request", 413)
        self._headers = {}
        self._part_bytes = 0
        self._file = (self.folder / f"part-{len(self.parts):05d}").open("wb")

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").strip().lower()] = self._value.decode("latin-1").strip()
        self._field = self._value = b""

    def _data(self, data: bytes, start: int, end: int) -> None:
        assert self._file is not None
        self._part_bytes += end - start
        if self._part_bytes > self.max_part_bytes:
            raise StowRequestError(
                f"part {len(self.parts) + 1} is over the instance size limit of {self.max_part_bytes} bytes "
                "(AXIOM_MAX_INSTANCE_BYTES); nothing was stored",
                413,
            )
        self._file.write(data[start:end])

    def _part_end(self) -> None:
        assert self._file is not None
        self._file.close()
        self.parts.append(ReceivedPart(Path(self._file.name), self._headers))
        self._file = None

    def _end(self) -> None:
        self.ended = True

    def feed(self, chunk: bytes) -> None:
        if self.ended or not chunk:
            return  # an epilogue after the closing boundary is ignored
        try:
            self.parser.write(chunk)
        except MultipartParseError as exc:
            offset = self._received + max(0, getattr(exc, "offset", 0))
            raise StowRequestError(f"the multipart body does not parse near byte {offset}: {exc}") from None
        finally:
            self._received += len(chunk)

    def finish(self) -> list[ReceivedPart]:
        if self._file is not None:
            self._file.close()
            self._file = None
        if not self.ended:
            whole = len(self.parts)
            raise StowRequestError(
                f"the multipart body ends before its closing boundary after {self._received} bytes "
                f"({whole} complete part(s)); it looks truncated, nothing was stored: send it again"
            )
        if not self.parts:
            raise StowRequestError("the multipart body holds no parts")
        return self.parts

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()


@dataclass(frozen=True)
class PartResult:
    index: int
    sop_class_uid: str
    sop_instance_uid: str
    status: int  # 0 when stored
    reason: str = ""
    correlation_id: str = ""


@dataclass
class StowResult:
    parts: list[PartResult] = field(default_factory=list)

    @property
    def referenced(self) -> list[PartResult]:
        return [p for p in self.parts if p.status == 0]

    @property
    def failed(self) -> list[PartResult]:
        return [p for p in self.parts if p.status != 0]

    @property
    def http_status(self) -> int:
        if not self.failed:
            return 200
        return 202 if self.referenced else 409


def _read_meta(data: bytes) -> tuple[FileMetaDataset, int]:
    """The part's File Meta Information and where its dataset starts; ValueError when unusable."""
    fp = BytesIO(data)
    try:
        read_preamble(fp, force=False)
        meta = _read_file_meta_info(fp)
    except Exception as exc:
        raise ValueError(f"not a DICOM Part 10 file ({type(exc).__name__})") from None
    missing = [
        k
        for k in ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID")
        if k not in meta
    ]
    if missing:
        raise ValueError(f"File Meta Information lacks {', '.join(missing)}")
    syntax = UID(str(meta.TransferSyntaxUID).strip())
    if not syntax.is_valid or not syntax.is_transfer_syntax:
        raise ValueError("File Meta Information names no known Transfer Syntax UID")
    for keyword in ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID"):
        if not UID(str(meta[keyword].value).strip()).is_valid:
            raise ValueError(f"File Meta Information holds an invalid {keyword}")
    return meta, fp.tell()


def _study_uid(data: bytes) -> str | None:
    with contextlib.suppress(Exception):
        ds = dcmread(BytesIO(data), stop_before_pixels=True, specific_tags=["StudyInstanceUID"])
        return str(ds.get("StudyInstanceUID", "")).strip() or None
    return None


def store_part(
    ports: IngestPorts, index: int, part: ReceivedPart, study_uid: str | None, called_ae: str
) -> PartResult:
    try:
        return _store_part(ports, index, part, study_uid, called_ae)
    except Exception as exc:  # a part must never turn the whole request into a 500
        log.error("STOW-RS part failed", part=index, error=type(exc).__name__)
        return PartResult(
            index, "", "", PROCESSING_FAILURE, f"part {index}: processing failed ({type(exc).__name__})"
        )


def _store_part(
    ports: IngestPorts, index: int, part: ReceivedPart, study_uid: str | None, called_ae: str
) -> PartResult:
    unknown = Arrival("", "", UID("1.2.840.10008.1.2.1"), "", called_ae, SOURCE)
    if part.content_type != DICOM:
        return PartResult(
            index, "", "", UNSUPPORTED_PART_TYPE, f"part {index}: type {part.content_type!r} is not {DICOM}"
        )
    data = part.path.read_bytes()  # one instance at a time, as the listener holds one
    try:
        meta, start = _read_meta(data)
    except ValueError as exc:
        result = ingest_unparsable(ports, data, str(exc), unknown)
        return PartResult(
            index, "", "", result.status or CANNOT_UNDERSTAND, f"part {index}: {exc}", result.correlation_id
        )
    sop_class = str(meta.MediaStorageSOPClassUID).strip()
    sop_uid = str(meta.MediaStorageSOPInstanceUID).strip()
    if study_uid is not None:
        found = _study_uid(data)
        if found is not None and found != study_uid:
            return PartResult(
                index,
                sop_class,
                sop_uid,
                STUDY_UID_MISMATCH,
                f"part {index}: Study Instance UID differs from the URL",
            )
    stored = FileMetaDataset()
    stored.MediaStorageSOPClassUID = UID(sop_class)
    stored.MediaStorageSOPInstanceUID = UID(sop_uid)
    stored.TransferSyntaxUID = UID(str(meta.TransferSyntaxUID).strip())
    stored.ReceivingApplicationEntityTitle = called_ae
    arrival = Arrival(sop_uid, sop_class, stored.TransferSyntaxUID, "", called_ae, SOURCE)
    result = ingest_instance(ports, stored, memoryview(data)[start:], arrival)
    reason = "" if result.accepted else f"part {index}: {result.reason}"
    return PartResult(index, sop_class, sop_uid, result.status, reason, result.correlation_id)


def store_parts(
    ports: IngestPorts, parts: list[ReceivedPart], study_uid: str | None, called_ae: str
) -> StowResult:
    result = StowResult()
    for index, part in enumerate(parts, start=1):
        result.parts.append(store_part(ports, index, part, study_uid, called_ae))
        with contextlib.suppress(OSError):
            part.path.unlink()  # done with it: the spool or the quarantine holds the instance now
    return result


# --- the PS3.18 response: DICOM JSON (PS3.18 F) or the Native DICOM Model (PS3.19 A.1) ---


def response_dataset(result: StowResult, retrieve_url: str | None = None) -> Dataset:
    ds = Dataset()
    if retrieve_url:
        ds.RetrieveURL = retrieve_url
    if result.referenced:
        items = []
        for part in result.referenced:
            item = Dataset()
            item.ReferencedSOPClassUID = part.sop_class_uid
            item.ReferencedSOPInstanceUID = part.sop_instance_uid
            items.append(item)
        ds.ReferencedSOPSequence = items
    if result.failed:
        failed = []
        for part in result.failed:
            item = Dataset()
            item.ReferencedSOPClassUID = part.sop_class_uid
            item.ReferencedSOPInstanceUID = part.sop_instance_uid
            item.FailureReason = part.status
            failed.append(item)
        ds.FailedSOPSequence = failed
    return ds


def _xml_elements(ds: Dataset) -> Iterator[str]:
    for element in ds:
        tag = f"{element.tag.group:04X}{element.tag.element:04X}"
        vr = element.VR or dictionary_VR(element.tag)
        yield f'<DicomAttribute tag="{tag}" vr="{vr}" keyword="{keyword_for_tag(element.tag)}">'
        if vr == "SQ":
            for number, item in enumerate(element.value, start=1):
                yield f'<Item number="{number}">{"".join(_xml_elements(item))}</Item>'
        elif element.value not in (None, ""):
            values: list[Any] = list(element.value) if element.VM > 1 else [element.value]
            for number, value in enumerate(values, start=1):
                yield f'<Value number="{number}">{escape(str(value))}</Value>'
        yield "</DicomAttribute>"


def response_xml(ds: Dataset) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">'
        f"{''.join(_xml_elements(ds))}</NativeDicomModel>\n"
    )
