"""DICOMweb source: QIDO-RS finds studies, WADO-RS retrieves their new instances (dicomweb-client).

Each retrieved instance is re-encoded exactly in the transfer syntax the server sent and goes through
the same ingest path as a C-STORE arrival, with the source's name as the ingest context ``source``.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from typing import Any, ClassVar, Literal, TypeVar

import requests
from dicomweb_client.api import DICOMwebClient
from pydantic import Field
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import UID

from axiom.domain.received import SUCCESS, Received
from axiom.domain.sources import ENV_NAME_PATTERN, SourceBase
from axiom.sources.base import (
    RemoteInstance,
    RemoteStudy,
    RetrieveResult,
    Source,
    SourceError,
    StudyQuery,
    accession_matches,
)


class DicomwebSourceConfig(SourceBase):
    type: Literal["dicomweb"] = "dicomweb"
    # The DICOMweb root, e.g. https://pacs.example.org/dicom-web
    url: str = Field(pattern=r"^https?://")
    username: str | None = None
    # The environment variable holding the HTTP basic password (never the password itself).
    password_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN)
    verify_tls: bool = True


D = TypeVar("D", bound=SourceBase)

_STUDY_UID = "0020000D"
_SERIES_UID = "0020000E"
_SOP_UID = "00080018"
_SOP_CLASS = "00080016"
_STUDY_COUNT = "00201208"  # NumberOfStudyRelatedInstances
_ACCESSION = "00080050"


def _value(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value") or [None]
    return values[0]


def encode_body(dataset: Dataset) -> tuple[FileMetaDataset, bytes]:
    """The File Meta and the encoded dataset (no meta) of an instance read from a Part 10 payload."""
    meta = FileMetaDataset(dataset.file_meta)
    syntax = UID(meta.TransferSyntaxUID)
    if syntax.is_deflated:
        raise SourceError(f"deflated transfer syntax {syntax} is not supported")
    buffer = DicomBytesIO()
    buffer.is_little_endian = syntax.is_little_endian
    buffer.is_implicit_VR = syntax.is_implicit_VR
    body = Dataset({tag: element for tag, element in dataset.items() if tag.group != 0x0002})
    write_dataset(buffer, body)
    return meta, buffer.getvalue()


class DICOMwebPoller(Source[D]):
    """QIDO-RS and WADO-RS for any config with a DICOMweb root: the kinds say where and with what
    credentials (``base_url``, ``http_session``)."""

    _client_cache: DICOMwebClient | None = None

    # ------------------------------------------------------------------ connection

    @abstractmethod
    def base_url(self) -> str:
        """The DICOMweb root."""

    @abstractmethod
    def http_session(self) -> requests.Session:
        """An HTTP session carrying the configured credentials; SourceError when they are unusable."""

    @property
    def client(self) -> DICOMwebClient:
        if self._client_cache is None:
            self._client_cache = DICOMwebClient(
                self.base_url(), session=self.http_session(), timeout=self.config.timeout_seconds
            )
            # Poll again on the next tick instead of sleeping through retries here.
            self._client_cache.set_http_retry_params(retry=False)
        return self._client_cache

    def _call(self, what: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise SourceError(f"{what} at {self.base_url()}: HTTP {status}") from None
        except requests.RequestException as exc:
            raise SourceError(f"{what} at {self.base_url()}: {type(exc).__name__}") from None

    # ------------------------------------------------------------------ Source

    def find_studies(self, query: StudyQuery) -> list[RemoteStudy]:
        filters: dict[str, Any] = {}
        if query.date_from is not None:
            filters["StudyDate"] = f"{query.date_from:%Y%m%d}-"
        if query.accession_pattern and not any(c in query.accession_pattern for c in "*?"):
            # Many servers (Orthanc among them) match no wildcards over QIDO: patterns are applied here.
            filters["AccessionNumber"] = query.accession_pattern
        studies: dict[str, RemoteStudy] = {}
        for modality in query.modalities or (None,):
            search = dict(filters, **({"ModalitiesInStudy": modality} if modality else {}))
            found = self._call(
                "QIDO-RS studies",
                self.client.search_for_studies,
                search_filters=search,
                fields=["NumberOfStudyRelatedInstances", "AccessionNumber"],
                limit=query.limit,
            )
            for item in found:
                uid = _value(item, _STUDY_UID)
                accession = _value(item, _ACCESSION)
                if uid and accession_matches(query.accession_pattern, accession or ""):
                    count = _value(item, _STUDY_COUNT)
                    studies[uid] = RemoteStudy(uid, int(count) if count is not None else None, accession)
        return list(studies.values())[: query.limit]

    def list_instances(self, study_uid: str) -> list[RemoteInstance]:
        found = self._call(
            "QIDO-RS instances",
            self.client.search_for_instances,
            study_instance_uid=study_uid,
            fields=["SeriesInstanceUID", "SOPClassUID"],
            get_remaining=True,
        )
        return [
            RemoteInstance(
                study_uid=study_uid,
                series_uid=str(_value(item, _SERIES_UID)),
                sop_uid=str(_value(item, _SOP_UID)),
                sop_class_uid=str(_value(item, _SOP_CLASS) or ""),
            )
            for item in found
            if _value(item, _SOP_UID)
        ]

    def retrieve(
        self, study_uid: str, instances: list[RemoteInstance], *, whole_study: bool
    ) -> RetrieveResult:
        # One WADO-RS request per instance: each is acknowledged (spooled and queued) on its own.
        result = RetrieveResult()
        for instance in instances:
            self.throttle()
            try:
                dataset = self._call(
                    "WADO-RS instance",
                    self.client.retrieve_instance,
                    study_uid,
                    instance.series_uid,
                    instance.sop_uid,
                    media_types=(("application/dicom", "*"),),
                )
                status = self._ingest(dataset, instance)
            except SourceError as exc:
                result.failed.append(instance.sop_uid)
                result.error = str(exc)
                continue
            if status == SUCCESS:
                result.retrieved.append(instance.sop_uid)
            else:
                result.failed.append(instance.sop_uid)
                result.error = f"ingest refused {instance.sop_uid}: status 0x{status:04X}"
        return result

    def _ingest(self, dataset: Dataset, instance: RemoteInstance) -> int:
        meta, data = encode_body(dataset)
        return self.ingest(
            Received(
                meta=meta,
                data=data,
                sop_instance_uid=str(meta.get("MediaStorageSOPInstanceUID", instance.sop_uid)),
                sop_class_uid=str(meta.get("MediaStorageSOPClassUID", instance.sop_class_uid)),
                transfer_syntax=UID(meta.TransferSyntaxUID),
                calling_ae="",
                called_ae=self.settings.ae_title,
            )
        )

    def close(self) -> None:
        if self._client_cache is not None:
            self._client_cache._session.close()
            self._client_cache = None


class DicomwebSource(DICOMwebPoller[DicomwebSourceConfig]):
    kind: ClassVar[str] = "dicomweb"
    config_model: ClassVar[type[SourceBase]] = DicomwebSourceConfig

    def base_url(self) -> str:
        return self.config.url

    def http_session(self) -> requests.Session:
        session = requests.Session()
        session.verify = self.config.verify_tls
        if self.config.username:
            password = os.environ.get(self.config.password_env, "") if self.config.password_env else ""
            session.auth = (self.config.username, password)
        return session
