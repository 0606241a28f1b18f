"""Storage Commitment (PS3.4 Annex J) over loopback: a modality stores, asks for commitment with an
N-ACTION and gets the N-EVENT-REPORT, on its own association or, once that is closed, on a new one to
the port of its known peer entry."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

import pytest
from pydicom import Dataset, dcmread
from pydicom.uid import generate_uid
from pynetdicom import AE, build_role, evt
from pynetdicom.events import Event

from axiom.config import Settings
from axiom.db.models import PeerRow
from axiom.db.repositories.instances import upsert_instance
from axiom.db.repositories.peers import peer_row_values
from axiom.db.session import create_db_engine, make_session_factory, upgrade_database
from axiom.domain.instances import InstanceStatus
from axiom.domain.peers import PeerConfig
from axiom.pipeline.storage_commitment import (
    COMMITMENT_INSTANCE,
    STORAGE_COMMITMENT,
    Request,
    StorageCommitment,
)
from tests.factories import Corpus
from tests.support.dcmtk import free_port
from tests.support.listener import running_listener

pytestmark = pytest.mark.integration

MODALITY = "MODALITY"


def _commitment_request(transaction_uid: str, references: list[tuple[str, str]]) -> Dataset:
    request = Dataset()
    request.TransactionUID = transaction_uid
    request.ReferencedSOPSequence = []
    for sop_class, uid in references:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class, uid
        request.ReferencedSOPSequence.append(item)
    return request


def _modality(reports: queue.Queue[tuple[int, Dataset]]) -> tuple[AE, list[Any]]:
    def on_report(event: Event) -> tuple[int, None]:
        reports.put((int(event.event_type or 0), event.event_information))
        return 0x0000, None

    ae = AE(ae_title=MODALITY)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    return ae, [(evt.EVT_N_EVENT_REPORT, on_report)]


def _references(corpus: Corpus) -> tuple[list[Dataset], list[tuple[str, str]]]:
    sent: list[Dataset] = [dcmread(info.path) for info in corpus.instances[:2]]
    never_sent = (str(sent[0].SOPClassUID), generate_uid())
    return sent, [(str(ds.SOPClassUID), str(ds.SOPInstanceUID)) for ds in sent] + [never_sent]


def _assert_report(report: tuple[int, Dataset], transaction_uid: str, refs: list[tuple[str, str]]) -> None:
    event_type, info = report
    assert event_type == 2  # some failed
    assert info.TransactionUID == transaction_uid
    committed = [(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID) for i in info.ReferencedSOPSequence]
    assert committed == refs[:2]
    (failed,) = info.FailedSOPSequence
    assert (failed.ReferencedSOPClassUID, failed.ReferencedSOPInstanceUID) == refs[2]
    assert failed.FailureReason == 0x0112


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(dicom_host="127.0.0.1", dicom_port=free_port(), storage_commitment_timeout=1.5)


def test_report_on_the_same_association(settings: Settings, corpus_small: Corpus) -> None:
    reports: queue.Queue[tuple[int, Dataset]] = queue.Queue()
    ae, handlers = _modality(reports)
    sent, refs = _references(corpus_small)
    for ds in sent:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    ae.add_requested_context(STORAGE_COMMITMENT)
    role = build_role(STORAGE_COMMITMENT, scu_role=True, scp_role=True)
    transaction_uid = generate_uid()
    with running_listener(settings) as server:
        port = server.server_address[1]
        assoc = ae.associate("127.0.0.1", port, ae_title="AXIOM", ext_neg=[role], evt_handlers=handlers)
        assert assoc.is_established
        try:
            assert [int(assoc.send_c_store(ds).Status) for ds in sent] == [0, 0]
            status, _ = assoc.send_n_action(
                _commitment_request(transaction_uid, refs), 1, STORAGE_COMMITMENT, COMMITMENT_INSTANCE
            )
            assert status.Status == 0x0000
            report = reports.get(timeout=5)
        finally:
            assoc.release()
    _assert_report(report, transaction_uid, refs)


def test_report_on_a_new_association_to_the_known_peer(settings: Settings, corpus_small: Corpus) -> None:
    reports: queue.Queue[tuple[int, Dataset]] = queue.Queue()
    ae, handlers = _modality(reports)
    sent, refs = _references(corpus_small)
    for ds in sent:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    ae.add_requested_context(STORAGE_COMMITMENT)
    # The modality's own SCP, where the report comes once its association has closed.
    ae.add_supported_context(STORAGE_COMMITMENT, scu_role=True, scp_role=True)
    modality_port = free_port()
    upgrade_database(settings.effective_database_url)
    engine = create_db_engine(settings.effective_database_url)
    with make_session_factory(engine)() as session:
        peer = PeerConfig(name="modality", ae_title=MODALITY, host="127.0.0.1", port=modality_port)
        session.add(PeerRow(**peer_row_values(peer)))
        session.commit()
    engine.dispose()
    transaction_uid = generate_uid()
    scp = ae.start_server(("127.0.0.1", modality_port), block=False, evt_handlers=handlers)
    try:
        with running_listener(settings) as server:
            assoc = ae.associate("127.0.0.1", server.server_address[1], ae_title="AXIOM")
            assert assoc.is_established
            assert [int(assoc.send_c_store(ds).Status) for ds in sent] == [0, 0]
            status, _ = assoc.send_n_action(
                _commitment_request(transaction_uid, refs), 1, STORAGE_COMMITMENT, COMMITMENT_INSTANCE
            )
            assoc.release()
            assert status.Status == 0x0000
            report = reports.get(timeout=5)
    finally:
        if scp is not None:
            scp.shutdown()
    _assert_report(report, transaction_uid, refs)


def test_database_rows_count_unless_quarantined(settings: Settings) -> None:
    """Instances already routed (the spooled file gone) are held by their row; quarantined ones not."""
    upgrade_database(settings.effective_database_url)
    engine = create_db_engine(settings.effective_database_url)
    sessions = make_session_factory(engine)
    ct, mr = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"
    routed, quarantined, other_class = (str(generate_uid()) for _ in range(3))
    with sessions() as session:
        for uid, status in ((routed, InstanceStatus.DELIVERED), (quarantined, InstanceStatus.QUARANTINED)):
            upsert_instance(session, **_receipt(uid, ct, status))
        upsert_instance(session, **_receipt(other_class, mr, InstanceStatus.DELIVERED))
        session.commit()
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    commitment = StorageCommitment(
        settings.model_copy(update={"storage_commitment_timeout": 0.2}), sessions=sessions
    )
    refs = [(ct, routed), (ct, quarantined), (ct, other_class)]
    info, event_type = commitment.outcome(Request(generate_uid(), refs, MODALITY, "127.0.0.1"))
    engine.dispose()
    assert event_type == 2
    assert [i.ReferencedSOPInstanceUID for i in info.ReferencedSOPSequence] == [routed]
    assert [(i.ReferencedSOPInstanceUID, i.FailureReason) for i in info.FailedSOPSequence] == [
        (quarantined, 0x0112),
        (other_class, 0x0119),
    ]


def _receipt(uid: str, sop_class: str, status: InstanceStatus) -> dict[str, Any]:
    return dict(
        study_instance_uid="1.2.3",
        series_instance_uid="1.2.3.4",
        sop_instance_uid=uid,
        sop_class_uid=sop_class,
        modality="CT",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        patient_id_hash=None,
        study_date=None,
        calling_ae=MODALITY,
        called_ae="AXIOM",
        source="dimse",
        spool_path=None,
        size_bytes=1,
        status=status,
    )
