"""Ask a DICOM peer (C-FIND, Study Root) how many instances it holds for a series or study."""

from __future__ import annotations

import structlog
from pydicom import Dataset
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]

from axiom.dicom.scu_ae import requestor_ae

log = structlog.get_logger("axiom.cfind")

_COUNT_KEYWORD = {"series": "NumberOfSeriesRelatedInstances", "study": "NumberOfStudyRelatedInstances"}
_PENDING = (0xFF00, 0xFF01)


def related_instance_count(
    *,
    host: str,
    port: int,
    called_ae: str,
    calling_ae: str,
    level: str,
    study_uid: str,
    series_uid: str = "",
    timeout: float = 10.0,
) -> int | None:
    """The peer's NumberOf{Series,Study}RelatedInstances for one series/study; None when the peer
    cannot be reached, does not know it, or does not answer with a number (logged, never raised)."""
    keyword = _COUNT_KEYWORD[level]
    query = Dataset()
    query.QueryRetrieveLevel = level.upper()
    query.StudyInstanceUID = study_uid
    if level == "series":
        query.SeriesInstanceUID = series_uid
    setattr(query, keyword, "")

    ae = requestor_ae(calling_ae)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = timeout
    assoc = ae.associate(host, port, ae_title=called_ae)
    if not assoc.is_established:
        log.warning("count query: no association", peer=f"{host}:{port}", level=level)
        return None
    counts: list[int] = []
    try:
        for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
            if status is None:
                log.warning("count query: no answer", peer=f"{host}:{port}", level=level)
                break
            if status.Status in _PENDING and identifier is not None:
                try:
                    counts.append(int(identifier.get(keyword)))
                except (TypeError, ValueError):
                    continue
    finally:
        assoc.release()
    # One match is expected; with several (a peer ignoring the UID key) no count can be trusted.
    return counts[0] if len(counts) == 1 and counts[0] > 0 else None
