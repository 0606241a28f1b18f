"""C-STORE destination against a scriptable pynetdicom Storage SCP on loopback (a real server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    MRImageStorage,
    RLELossless,
)
from pynetdicom import AE

from axiom.config import Settings
from axiom.destinations import DeliveryError
from axiom.destinations.cstore import (
    CStoreDestination,
    CStoreDestinationConfig,
    proposed_syntaxes,
    status_outcome,
)
from axiom.domain.instances import OutgoingInstance
from tests.factories import make_dataset, outgoing_instance, write_instance
from tests.support.dcmtk import StoreSCP, free_port
from tests.support.scp import StorageSCP


@pytest.fixture
def make_destination(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., CStoreDestination]]:
    made: list[CStoreDestination] = []

    def make(scp: StorageSCP | None = None, **overrides: object) -> CStoreDestination:
        fields: dict[str, object] = {
            "name": "pacs",
            "host": "127.0.0.1",
            "ae_title": "TESTSCP",
            "timeout_seconds": 5,
        }
        if scp is not None:
            fields["port"] = scp.port
        fields.update(overrides)
        dest = CStoreDestination(CStoreDestinationConfig.model_validate(fields), settings_factory())
        made.append(dest)
        return dest

    yield make
    for dest in made:
        dest.close()


@pytest.fixture(scope="module")
def shared_scp() -> Iterator[StorageSCP]:
    """One server for the tests that only vary the status: stopping a pynetdicom server costs ~0.5 s."""
    with StorageSCP() as scp:
        yield scp


@pytest.fixture
def scp(shared_scp: StorageSCP) -> StorageSCP:
    return shared_scp.reset()


def instance(tmp_path: Path, **kwargs: object) -> OutgoingInstance:
    ds = make_dataset(**kwargs)  # type: ignore[arg-type]
    return outgoing_instance(write_instance(ds, tmp_path / f"{ds.SOPInstanceUID}.dcm"))


def test_delivers_and_reports_the_peer(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    with StorageSCP() as scp:
        item = instance(tmp_path)
        where = make_destination(scp).send(item)
        assert scp.received_uids == [item.sop_instance_uid]
        assert where == f"127.0.0.1:{scp.port}/TESTSCP"
        assert scp.log.received[0].calling_ae == "AXIOM"


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (0xA700, True),
        (0xA7FF, True),
        (0x0210, True),
        (0x0212, True),
        (0x0213, True),
        (0x0122, False),
        (0xA900, False),
        (0xA9FF, False),
        (0xC000, False),
        (0xCFFF, False),
        (0x0117, False),
    ],
)
def test_failure_statuses_are_classified(
    tmp_path: Path,
    scp: StorageSCP,
    make_destination: Callable[..., CStoreDestination],
    status: int,
    transient: bool,
) -> None:
    scp.reset(status=status)
    item = instance(tmp_path)
    with pytest.raises(DeliveryError) as caught:
        make_destination(scp).send(item)
    error = caught.value
    assert error.transient is transient
    assert error.code == f"0x{status:04X}"
    assert f"0x{status:04X}" in str(error)
    assert f"127.0.0.1:{scp.port}" in str(error)
    assert item.sop_instance_uid in str(error)


@pytest.mark.parametrize("status", [0x0000, 0x0001, 0xB000, 0xB006, 0xB007, 0xBFFF])
def test_success_and_warning_statuses_deliver(
    tmp_path: Path, scp: StorageSCP, make_destination: Callable[..., CStoreDestination], status: int
) -> None:
    scp.reset(status=status)
    make_destination(scp).send(instance(tmp_path))
    assert len(scp.received_uids) == 1


def test_failed_status_keeps_the_association_for_the_next_send(
    tmp_path: Path, scp: StorageSCP, make_destination: Callable[..., CStoreDestination]
) -> None:
    answers = iter([0xA700, 0x0000])
    scp.reset(status=lambda _: next(answers))
    dest = make_destination(scp)
    with pytest.raises(DeliveryError):
        dest.send(instance(tmp_path))
    dest.send(instance(tmp_path))
    assert dest.associations_opened == 1
    assert len(scp.received_uids) == 2


def test_sop_class_not_accepted_is_permanent(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    with StorageSCP(sop_classes=[CTImageStorage]) as scp:
        dest = make_destination(scp)
        with pytest.raises(DeliveryError) as caught:
            dest.send(instance(tmp_path, modality="MR"))
        assert not caught.value.transient
        assert caught.value.code == "no-accepted-context"
        assert scp.received_uids == []


def test_context_refused_on_a_live_association_is_permanent_and_keeps_it(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    with StorageSCP(sop_classes=[CTImageStorage]) as scp:
        dest = make_destination(scp)
        dest.send(instance(tmp_path, modality="CT"))
        for _ in range(2):
            with pytest.raises(DeliveryError) as caught:
                dest.send(instance(tmp_path, modality="MR"))
            assert caught.value.code == "no-accepted-context"
            assert not caught.value.transient
        dest.send(instance(tmp_path, modality="CT"))
        # One re-association to ask for MR; the refusal is remembered, so no third association.
        assert dest.associations_opened == 2
        assert len(scp.received_uids) == 2


def test_compressed_syntax_the_peer_refuses_goes_decompressed(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    with StorageSCP(transfer_syntaxes=[ExplicitVRLittleEndian, ImplicitVRLittleEndian]) as scp:
        dest = make_destination(scp)
        item = instance(tmp_path, transfer_syntax=RLELossless)
        dest.send(item)
        assert scp.received_uids == [item.sop_instance_uid]
        assert scp.log.received[0].transfer_syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


def test_a_refused_syntax_that_cannot_be_decoded_is_permanent(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    with StorageSCP(transfer_syntaxes=[ExplicitVRLittleEndian]) as scp:
        item = instance(tmp_path, transfer_syntax=RLELossless)
        item.dataset.PixelData = b"\x00" * 16  # no valid RLE header
        with pytest.raises(DeliveryError) as caught:
            make_destination(scp).send(item)
        assert caught.value.code == "transcode" and not caught.value.transient
        assert scp.received_uids == []


def test_uncompressed_data_goes_in_whichever_le_syntax_the_peer_takes(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    with StorageSCP(transfer_syntaxes=[ImplicitVRLittleEndian]) as scp:
        make_destination(scp).send(instance(tmp_path, transfer_syntax=ExplicitVRLittleEndian))
        assert [r.transfer_syntax for r in scp.log.received] == [ImplicitVRLittleEndian]


def test_compressed_data_travels_compressed(
    tmp_path: Path, scp: StorageSCP, make_destination: Callable[..., CStoreDestination]
) -> None:
    dest = make_destination(scp)
    dest.send(instance(tmp_path, transfer_syntax=RLELossless))
    dest.send(instance(tmp_path, transfer_syntax=JPEG2000Lossless))
    assert [r.transfer_syntax for r in scp.log.received] == [RLELossless, JPEG2000Lossless]


def test_association_is_reused_then_extended_with_accumulated_contexts(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    with StorageSCP() as scp:
        dest = make_destination(scp)
        for _ in range(5):
            dest.send(instance(tmp_path, modality="CT"))
        assert dest.associations_opened == 1
        dest.send(instance(tmp_path, modality="MR"))
        assert dest.associations_opened == 2
        # CT and MR were both proposed on the second association: alternating needs no third.
        for modality in ("CT", "MR", "CT", "MR"):
            dest.send(instance(tmp_path, modality=modality))
        assert dest.associations_opened == 2
        assert len(scp.received_uids) == 10
        # The first association was released, not dropped.
        assert scp.wait_for(lambda log: log.released >= 1)


def test_close_releases_and_the_next_send_reconnects(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    with StorageSCP() as scp:
        dest = make_destination(scp)
        dest.send(instance(tmp_path))
        dest.close()
        assert scp.wait_for(lambda log: log.released == 1 and log.aborted == 0)
        dest.send(instance(tmp_path))
        assert dest.associations_opened == 2
        dest.close()
        dest.close()  # idempotent
        assert scp.wait_for(lambda log: log.released == 2)


def test_an_idle_association_is_released_after_the_close_delay(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    with StorageSCP() as scp:
        dest = make_destination(scp, association_close_delay_seconds=0.3)
        for _ in range(3):
            dest.send(instance(tmp_path))
        assert dest.associations_opened == 1
        # Released (not aborted) once nothing was sent for the delay, with no send to prompt it.
        assert scp.wait_for(lambda log: log.released == 1 and log.aborted == 0, timeout=3)
        dest.send(instance(tmp_path))
        assert dest.associations_opened == 2
        assert scp.wait_for(lambda log: log.released == 2, timeout=3)


def test_close_delay_zero_releases_after_every_send(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    with StorageSCP() as scp:
        dest = make_destination(scp, association_close_delay_seconds=0)
        dest.send(instance(tmp_path))
        dest.send(instance(tmp_path))
        assert dest.associations_opened == 2
        assert scp.wait_for(lambda log: log.released == 2 and log.aborted == 0)


def test_two_senders_take_turns_at_a_peer_that_serves_one_association_at_a_time(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    """DCMTK's storescp (no --fork) reads one association at a time: a worker process that kept an
    idle association open made every other worker's association wait out its ACSE timeout."""
    with StoreSCP(tmp_path / "pacs", ae_title="TESTSCP") as pacs:
        first = make_destination(port=pacs.port, association_close_delay_seconds=0.3, timeout_seconds=5)
        second = make_destination(port=pacs.port, association_close_delay_seconds=0.3, timeout_seconds=5)
        first.send(instance(tmp_path))
        started = time.monotonic()
        second.send(instance(tmp_path))
        assert time.monotonic() - started < 3
        first.send(instance(tmp_path))
        assert len(pacs.received_files()) == 3


def test_peer_restart_between_sends_is_absorbed(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    scp = StorageSCP().start()
    port = scp.port
    try:
        dest = make_destination(scp)
        dest.send(instance(tmp_path))
        scp.stop()
        scp = StorageSCP()
        scp.port = port
        scp.start()
        # The kept association died with the old server: the send reconnects and succeeds.
        item = instance(tmp_path)
        dest.send(item)
        assert scp.received_uids == [item.sop_instance_uid]
        assert dest.associations_opened == 2
    finally:
        scp.stop()


def test_reused_association_dying_under_a_send_is_retried_once_on_a_fresh_one(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    # The peer drops the kept association on the 2nd request (as an idle-timeout race would).
    with StorageSCP(abort_on_store=lambda n: n == 2) as scp:
        dest = make_destination(scp)
        first, second = instance(tmp_path), instance(tmp_path)
        dest.send(first)
        dest.send(second)
        assert scp.received_uids == [first.sop_instance_uid, second.sop_instance_uid]
        assert dest.associations_opened == 2


def test_reused_association_timing_out_is_not_retried(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    # The peer stores the 2nd instance but answers too late: a retry would be a second copy there.
    with StorageSCP(delay=lambda n: 4.0 if n == 2 else 0.0) as scp:
        dest = make_destination(scp, timeout_seconds=2.0)
        first, second = instance(tmp_path), instance(tmp_path)
        dest.send(first)
        with pytest.raises(DeliveryError) as caught:
            dest.send(second)
        assert caught.value.transient
        assert caught.value.code == "no-response"
        time.sleep(2.5)  # the stalled store completes at the peer
        assert scp.requests == 2
        assert scp.received_uids == [first.sop_instance_uid, second.sop_instance_uid]
        assert dest.associations_opened == 1


def test_fresh_association_dying_under_a_send_is_not_retried(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    with StorageSCP(abort_on_store=lambda n: n == 1) as scp:
        dest = make_destination(scp)
        with pytest.raises(DeliveryError) as caught:
            dest.send(instance(tmp_path))
        assert caught.value.transient
        assert scp.requests == 1
        assert dest.associations_opened == 1


def test_peer_abort_during_store_is_transient(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    with StorageSCP(abort_on_store=True) as scp:
        dest = make_destination(scp)
        with pytest.raises(DeliveryError) as caught:
            dest.send(instance(tmp_path))
        assert caught.value.transient
        assert caught.value.code == "no-response"


def test_no_response_in_time_is_transient(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    # The timeout covers association set-up too: 0.5 s was seen to expire on the association
    # request itself (connect-failed); 2 s leaves set-up room while the store still times out.
    with StorageSCP(delay=5.0) as scp:
        dest = make_destination(scp, timeout_seconds=2.0)
        with pytest.raises(DeliveryError) as caught:
            dest.send(instance(tmp_path))
        assert caught.value.transient
        assert caught.value.code == "no-response"


def test_wrong_called_ae_is_rejected_permanently(
    tmp_path: Path, scp: StorageSCP, make_destination: Callable[..., CStoreDestination]
) -> None:
    with pytest.raises(DeliveryError) as caught:
        make_destination(scp, ae_title="SOMEONE-ELSE").send(instance(tmp_path))
    assert not caught.value.transient
    assert caught.value.code == "rejected-permanent"
    assert scp.received_uids == []


def test_busy_peer_rejects_transiently(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    with StorageSCP(maximum_associations=1) as scp:
        other = AE(ae_title="OTHER")
        other.add_requested_context(CTImageStorage)
        held = other.associate("127.0.0.1", scp.port, ae_title="TESTSCP")
        try:
            assert held.is_established
            with pytest.raises(DeliveryError) as caught:
                make_destination(scp).send(instance(tmp_path))
            assert caught.value.transient
            assert caught.value.code == "rejected-transient"
        finally:
            held.release()


def test_nothing_listening_is_transient(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    dest = make_destination(port=free_port())
    item = instance(tmp_path)
    with pytest.raises(DeliveryError) as caught:
        dest.send(item)
    assert caught.value.transient
    assert caught.value.code == "connect-failed"
    assert item.sop_instance_uid in str(caught.value)
    assert "DOE" not in str(caught.value)


def test_dataset_without_file_meta_is_sent_in_its_read_encoding(
    tmp_path: Path, make_destination: Callable[..., CStoreDestination]
) -> None:
    source = write_instance(make_dataset(transfer_syntax=ImplicitVRLittleEndian), tmp_path / "implicit.dcm")
    ds = dcmread(source)
    del ds.file_meta
    item = OutgoingInstance(ds, None, str(ds.SOPInstanceUID), str(ds.StudyInstanceUID))
    with StorageSCP(transfer_syntaxes=[ImplicitVRLittleEndian]) as scp:
        make_destination(scp).send(item)
        assert scp.received_uids == [item.sop_instance_uid]
    assert not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta


def test_dataset_without_sop_class_is_permanent(
    scp: StorageSCP, make_destination: Callable[..., CStoreDestination]
) -> None:
    ds = Dataset()
    ds.SOPInstanceUID = "1.2.3.4"
    with pytest.raises(DeliveryError) as caught:
        make_destination(scp).send(OutgoingInstance(ds, None, "1.2.3.4", "1.2.3"))
    assert not caught.value.transient
    assert caught.value.code == "unencodable"


def test_concurrent_sends_on_one_destination_are_serialized(
    tmp_path: Path, scp: StorageSCP, make_destination: Callable[..., CStoreDestination]
) -> None:
    items = [instance(tmp_path) for _ in range(12)]
    # A generous DIMSE timeout: on a loaded machine a 5 s one can expire, and the retry on the
    # reused association then delivers that instance twice (harmless, but not what this checks).
    dest = make_destination(scp, timeout_seconds=60)
    errors: list[BaseException] = []

    def worker(chunk: list[OutgoingInstance]) -> None:
        try:
            for item in chunk:
                dest.send(item)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(items[i::3],)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(scp.received_uids) == sorted(i.sop_instance_uid for i in items)
    assert dest.associations_opened == 1


def test_status_table() -> None:
    assert status_outcome(0x0000) == "ok"
    assert status_outcome(0xB000) == "ok"
    assert status_outcome(0xA701) == "transient"
    assert status_outcome(0xFE00) == "transient"
    assert status_outcome(0x0122) == "permanent"
    assert status_outcome(0xC123) == "permanent"


def test_proposals() -> None:
    assert proposed_syntaxes(ImplicitVRLittleEndian) == (ImplicitVRLittleEndian, ExplicitVRLittleEndian)
    assert proposed_syntaxes(ExplicitVRLittleEndian) == (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
    assert proposed_syntaxes(RLELossless) == (RLELossless,)
    assert MRImageStorage != CTImageStorage
