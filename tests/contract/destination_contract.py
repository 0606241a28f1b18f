"""The contract every destination kind passes, each against its real target.

``DestinationContract`` holds the tests; a subclass per kind (``test_destinations.py`` for the
built-in kinds with Orthanc, files and the Google fakes; ``test_destinations_s3.py`` and
``test_destinations_azure.py`` for the object stores) supplies the ``destination`` fixture, the
``refusal`` fixture (parametrized over the ways that target refuses), and read-back hooks that look
at the target itself (files on disk, Orthanc's REST API, the bucket), never at the destination's word.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from axiom.destinations import DeliveryError, Destination, resolve
from axiom.domain.instances import OutgoingInstance
from tests.factories import Corpus, outgoing_instance

UNCOMPRESSED_LE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
CHANGED_INSTITUTION = "AXIOM CONTRACT CHANGED"


@dataclass
class Refusal:
    destination: Destination
    instance: OutgoingInstance
    transient: bool
    codes: tuple[str, ...]


class DestinationContract:
    """Mixin: every destination kind's test class inherits these tests."""

    kind: str

    # Hooks a subclass provides ------------------------------------------------------------------

    def stored_uids(self) -> list[str]:
        """SOP Instance UIDs at the target, one entry per stored copy."""
        raise NotImplementedError

    def stored_tag(self, sop_instance_uid: str, keyword: str) -> str:
        raise NotImplementedError

    def stored_transfer_syntax(self, sop_instance_uid: str) -> str:
        raise NotImplementedError

    # The contract -------------------------------------------------------------------------------

    def test_registry_resolves_the_kind(self, destination: Destination) -> None:
        assert resolve(self.kind) is type(destination)
        assert destination.kind == self.kind

    def test_deliver_one_instance(self, destination: Destination, corpus_small: Corpus) -> None:
        info = corpus_small.instances[0]

        where = destination.send(outgoing_instance(info.path))

        assert where
        assert self.stored_uids() == [info.sop_instance_uid]

    def test_redelivery_keeps_exactly_one_copy(self, destination: Destination, corpus_small: Corpus) -> None:
        info = corpus_small.instances[1]
        instance = outgoing_instance(info.path)

        first = destination.send(instance)
        second = destination.send(instance)
        third = destination.send(outgoing_instance(info.path, keep_source=False))

        assert first == second == third
        assert self.stored_uids() == [info.sop_instance_uid]

    def test_changed_dataset_arrives_as_changed(self, destination: Destination, corpus_small: Corpus) -> None:
        info = corpus_small.instances[2]
        instance = outgoing_instance(info.path, keep_source=False)
        instance.dataset.InstitutionName = CHANGED_INSTITUTION

        destination.send(instance)

        assert self.stored_tag(info.sop_instance_uid, "InstitutionName") == CHANGED_INSTITUTION
        assert self.stored_transfer_syntax(info.sop_instance_uid) in (
            info.transfer_syntax_uid,
            *UNCOMPRESSED_LE,
        )

    def test_corpus_across_sop_classes_and_transfer_syntaxes(
        self, destination: Destination, corpus_small: Corpus
    ) -> None:
        assert len(corpus_small.sop_classes) >= 5 and len(corpus_small.transfer_syntaxes) >= 4

        for info in corpus_small:
            destination.send(outgoing_instance(info.path))

        stored = self.stored_uids()
        assert sorted(stored) == sorted(corpus_small.sop_instance_uids)
        # Sent as received: compressed instances stay compressed at the target (uncompressed ones
        # may travel as either little-endian VR encoding, whichever the peer accepted).
        for info in corpus_small:
            stored_syntax = self.stored_transfer_syntax(info.sop_instance_uid)
            if info.transfer_syntax_uid in UNCOMPRESSED_LE:
                assert stored_syntax in UNCOMPRESSED_LE, info
            else:
                assert stored_syntax == info.transfer_syntax_uid, info

    def test_refused_delivery_is_classified(self, refusal: Refusal) -> None:
        with pytest.raises(DeliveryError) as caught:
            refusal.destination.send(refusal.instance)

        error = caught.value
        assert error.transient is refusal.transient
        assert error.code in refusal.codes
        # No PHI in what gets logged: the UID is there, the patient is not.
        message = str(error)
        assert refusal.instance.sop_instance_uid in message
        ds = refusal.instance.dataset
        for phi in (str(ds.PatientName), str(ds.PatientID), str(ds.PatientBirthDate)):
            assert phi not in message
        # Nor in a chained exception's text (an OSError names the path, which may hold PHI).
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
