"""DIMSE source: C-FIND (Study Root) for studies in the date window and their instances, then C-MOVE
to Axiom's own listener or C-GET on the poll's own association.

C-MOVE arrivals come in through the listener like any C-STORE; the listener gives them the source's
name by the Move Originator AE they carry (axiom.pipeline.move_origin). C-GET arrivals are taken on
this association and go through the same ingest path with the source's name as ``source``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal, cast

from pydantic import Field
from pydicom import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import ALL_TRANSFER_SYNTAXES, build_role, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from axiom.dicom.scu_ae import requestor_ae
from axiom.domain.received import Received
from axiom.domain.sources import SourceBase
from axiom.sources.base import (
    RemoteInstance,
    RemoteStudy,
    RetrieveResult,
    Source,
    SourceError,
    StudyQuery,
)


class DimseSourceConfig(SourceBase):
    """A PACS queried with C-FIND (Study Root) and retrieved with C-MOVE (to Axiom's own listener) or
    C-GET (on the poll's own association)."""

    type: Literal["dimse"] = "dimse"
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    ae_title: str = Field(min_length=1, max_length=16)
    calling_ae_title: str = Field(default="AXIOM", min_length=1, max_length=16)
    retrieve: Literal["move", "get"] = "move"
    # The C-MOVE destination AE (the peer must know it); None: Axiom's own AE title (AXIOM_AE_TITLE).
    move_destination: str | None = Field(default=None, min_length=1, max_length=16)


_PENDING = (0xFF00, 0xFF01)
_SUCCESS = 0x0000
# A C-GET association proposes at most 128 presentation contexts: one for the GET, the rest storage.
_MAX_STORAGE_CONTEXTS = 127
_UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
_ENCODED = [uid for uid in ALL_TRANSFER_SYNTAXES if uid not in _UNCOMPRESSED]


def storage_contexts(sop_classes: list[str]) -> list[tuple[str, list[str]]]:
    """The C-GET storage contexts for these SOP classes (at most 127 of them, in order).

    The peer picks one transfer syntax per context and sends every instance of that class in it, so
    a single context offering every syntax has a compressed instance sent decompressed (or refused,
    when the peer cannot transcode it). Each class gets an uncompressed context, then, as far as
    room remains, one context per other syntax, so the peer can send each instance as it holds it.
    """
    classes = sorted(set(sop_classes))[:_MAX_STORAGE_CONTEXTS]
    contexts: list[tuple[str, list[str]]] = [(uid, list(_UNCOMPRESSED)) for uid in classes]
    room = _MAX_STORAGE_CONTEXTS - len(contexts)
    extra: list[tuple[str, list[str]]] = [(uid, [syntax]) for syntax in _ENCODED for uid in classes]
    return contexts + extra[:room]


class DimseSource(Source[DimseSourceConfig]):
    kind: ClassVar[str] = "dimse"
    config_model: ClassVar[type[SourceBase]] = DimseSourceConfig

    @property
    def peer(self) -> DimseSourceConfig:
        return self.config

    def _where(self) -> str:
        return f"{self.peer.ae_title}@{self.peer.host}:{self.peer.port}"

    @contextmanager
    def _association(
        self, contexts: list[Any], handlers: list[Any] | None = None, roles: Any = None
    ) -> Iterator[Association]:
        ae = requestor_ae(self.peer.calling_ae_title)
        for context in contexts:
            if isinstance(context, tuple):
                ae.add_requested_context(*context)
            else:
                ae.add_requested_context(context)
        timeout = self.peer.timeout_seconds
        ae.acse_timeout = ae.network_timeout = ae.connection_timeout = timeout
        # A C-MOVE/C-GET of a whole study answers only when it is done.
        ae.dimse_timeout = max(timeout, 600.0)
        assoc = ae.associate(
            self.peer.host,
            self.peer.port,
            ae_title=self.peer.ae_title,
            ext_neg=roles or [],
            evt_handlers=handlers or [],
        )
        if not assoc.is_established:
            raise SourceError(f"no association with {self._where()}")
        try:
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()

    def _find(self, query: Dataset) -> list[Dataset]:
        matches: list[Dataset] = []
        with self._association([StudyRootQueryRetrieveInformationModelFind]) as assoc:
            for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
                if status is None or "Status" not in status:
                    raise SourceError(f"C-FIND to {self._where()}: no answer")
                code = int(status.Status)
                if code in _PENDING and identifier is not None:
                    matches.append(identifier)
                elif code != _SUCCESS:
                    raise SourceError(f"C-FIND to {self._where()}: status 0x{code:04X}")
        return matches

    # ------------------------------------------------------------------ Source

    def find_studies(self, query: StudyQuery) -> list[RemoteStudy]:
        studies: dict[str, RemoteStudy] = {}
        for modality in query.modalities or ("",):
            request = Dataset()
            request.QueryRetrieveLevel = "STUDY"
            request.StudyInstanceUID = ""
            request.StudyDate = f"{query.date_from:%Y%m%d}-" if query.date_from else ""
            request.AccessionNumber = query.accession_pattern or ""
            request.ModalitiesInStudy = modality
            request.NumberOfStudyRelatedInstances = ""
            for match in self._find(request):
                uid = str(match.get("StudyInstanceUID", ""))
                if not uid:
                    continue
                try:
                    count: int | None = int(match.get("NumberOfStudyRelatedInstances"))
                except (TypeError, ValueError):
                    count = None
                studies[uid] = RemoteStudy(uid, count)
        return list(studies.values())[: query.limit]

    def list_instances(self, study_uid: str) -> list[RemoteInstance]:
        request = Dataset()
        request.QueryRetrieveLevel = "SERIES"
        request.StudyInstanceUID = study_uid
        request.SeriesInstanceUID = ""
        series_uids = [str(m.SeriesInstanceUID) for m in self._find(request) if m.get("SeriesInstanceUID")]
        instances: list[RemoteInstance] = []
        for series_uid in series_uids:
            request = Dataset()
            request.QueryRetrieveLevel = "IMAGE"
            request.StudyInstanceUID = study_uid
            request.SeriesInstanceUID = series_uid
            request.SOPInstanceUID = ""
            request.SOPClassUID = ""
            for match in self._find(request):
                if match.get("SOPInstanceUID"):
                    instances.append(
                        RemoteInstance(
                            study_uid,
                            series_uid,
                            str(match.SOPInstanceUID),
                            str(match.get("SOPClassUID", "")),
                        )
                    )
        return instances

    def retrieve(
        self, study_uid: str, instances: list[RemoteInstance], *, whole_study: bool
    ) -> RetrieveResult:
        requests = (
            [self._identifier(study_uid, None)]
            if whole_study
            else [self._identifier(study_uid, i) for i in instances]
        )
        uids = [[i.sop_uid for i in instances]] if whole_study else [[i.sop_uid] for i in instances]
        result = RetrieveResult()
        if self.peer.retrieve == "get":
            self._get(requests, uids, instances, result)
        else:
            self._move(requests, uids, result)
        return result

    @staticmethod
    def _identifier(study_uid: str, instance: RemoteInstance | None) -> Dataset:
        identifier = Dataset()
        identifier.StudyInstanceUID = study_uid
        if instance is None:
            identifier.QueryRetrieveLevel = "STUDY"
        else:
            identifier.QueryRetrieveLevel = "IMAGE"
            identifier.SeriesInstanceUID = instance.series_uid
            identifier.SOPInstanceUID = instance.sop_uid
        return identifier

    def _settle(self, verb: str, responses: Any, expected: list[str], result: RetrieveResult) -> None:
        final: Dataset | None = None
        failed_list: list[str] = []
        for status, identifier in responses:
            if status is None or "Status" not in status:
                raise SourceError(f"{verb} to {self._where()}: no answer")
            if int(status.Status) not in _PENDING:
                final = status
                if identifier is not None and "FailedSOPInstanceUIDList" in identifier:
                    value = identifier.FailedSOPInstanceUIDList
                    failed_list = [
                        str(v) for v in (value if isinstance(value, list | tuple) else [value]) if v
                    ]
        if final is None:
            raise SourceError(f"{verb} to {self._where()}: no final status")
        code = int(final.Status)
        failed_count = int(final.get("NumberOfFailedSuboperations", 0) or 0)
        if code == _SUCCESS and failed_count == 0:
            result.retrieved.extend(expected)
            return
        if failed_list:
            result.retrieved.extend(uid for uid in expected if uid not in failed_list)
            result.failed.extend(uid for uid in expected if uid in failed_list)
        else:
            result.failed.extend(expected)
        result.error = f"{verb} to {self._where()}: status 0x{code:04X}, {failed_count} failed"

    def _move(self, requests: list[Dataset], uids: list[list[str]], result: RetrieveResult) -> None:
        destination = self.peer.move_destination or self.settings.ae_title
        with self._association([StudyRootQueryRetrieveInformationModelMove]) as assoc:
            for identifier, expected in zip(requests, uids, strict=True):
                self.throttle()
                responses = assoc.send_c_move(
                    identifier, destination, StudyRootQueryRetrieveInformationModelMove
                )
                self._settle("C-MOVE", responses, expected, result)

    def _get(
        self,
        requests: list[Dataset],
        uids: list[list[str]],
        instances: list[RemoteInstance],
        result: RetrieveResult,
    ) -> None:
        storage = storage_contexts([i.sop_class_uid for i in instances if i.sop_class_uid])
        if not storage:
            raise SourceError(f"C-GET from {self._where()}: the peer named no SOP classes")
        contexts: list[Any] = [StudyRootQueryRetrieveInformationModelGet, *storage]
        roles = [build_role(uid, scp_role=True) for uid in sorted({uid for uid, _ in storage})]
        refused: list[str] = []

        def on_store(event: Event) -> int:
            request = cast(C_STORE, event.request)
            status = self.ingest(
                Received(
                    meta=event.file_meta,
                    data=request.DataSet.getbuffer(),  # type: ignore[union-attr]
                    sop_instance_uid=str(request.AffectedSOPInstanceUID),
                    sop_class_uid=str(request.AffectedSOPClassUID),
                    transfer_syntax=UID(event.context.transfer_syntax),
                    calling_ae=str(event.assoc.acceptor.ae_title).strip(),
                    called_ae=str(event.assoc.requestor.ae_title).strip(),
                )
            )
            if status != _SUCCESS:
                refused.append(str(request.AffectedSOPInstanceUID))
            return status

        with self._association(contexts, [(evt.EVT_C_STORE, on_store)], roles) as assoc:
            for identifier, expected in zip(requests, uids, strict=True):
                self.throttle()
                responses = assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet)
                self._settle("C-GET", responses, expected, result)
        if refused:
            result.retrieved[:] = [uid for uid in result.retrieved if uid not in refused]
            result.failed.extend(uid for uid in refused if uid not in result.failed)
