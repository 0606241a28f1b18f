"""The contract every source kind passes, each against its real peer.

``SourceContract`` holds the tests; a subclass per kind (``test_sources.py``: DICOMweb and DIMSE
against Orthanc, the Healthcare source against the Healthcare API fake in front of Orthanc) supplies
the ``source`` fixture (built with the ``sink`` it is given), ``config_data`` (the configuration that
built it), ``invalid`` (a field the kind's model refuses), the ``refusal`` fixture (parametrized over
the ways that peer refuses) and the peer hooks: ``load_study`` puts instances on the peer,
``peer_file`` reads back the Part 10 file the peer holds, never the source's word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from axiom import sources
from axiom.dicom.spool import PREAMBLE, Spool
from axiom.domain.received import SUCCESS, Received
from axiom.sources import RemoteInstance, Source, SourceError, StudyQuery
from tests.contract.destination_contract import UNCOMPRESSED_LE
from tests.factories import FakePatient, fake_patient

# A patient whose name and ID must never appear in a source's error.
PATIENT: FakePatient = fake_patient(7)


@dataclass(frozen=True)
class LoadedStudy:
    study_uid: str
    sop_uids: list[str]
    series_uid: str
    sop_class_uid: str
    accession: str


class SpoolSink:
    """The ingest sink a poll passes a source, reduced to its first step: a real spool write. Keeps
    each arrival so a test compares it with the peer's copy."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.arrivals: dict[str, list[Path]] = {}
        self.received: list[Received] = []

    def __call__(self, received: Received) -> int:
        path = self.spool.write(received.meta, received.data)
        self.received.append(received)
        self.arrivals.setdefault(received.sop_instance_uid, []).append(path)
        return SUCCESS


def dataset_bytes(part10: bytes) -> bytes:
    """The encoded dataset of a Part 10 file, File Meta excluded (the spool's meta is its own)."""
    assert part10[: len(PREAMBLE)] == PREAMBLE, "not a Part 10 file"
    # (0002,0000) UL in explicit VR little endian: 8 bytes of header, then the group's length.
    at = len(PREAMBLE)
    return part10[at + 12 + int.from_bytes(part10[at + 8 : at + 12], "little") :]


@dataclass
class SourceRefusal:
    source: Source[Any]
    why: str  # what every message of the refusal says (an address, a status)


class SourceContract:
    """Mixin: every source kind's test class inherits these tests."""

    kind: ClassVar[str]
    # A field and a value the kind's own config model refuses (the shared fields are fine).
    invalid: ClassVar[dict[str, Any]]

    # Hooks a subclass provides ------------------------------------------------------------------

    def config_data(self) -> dict[str, Any]:
        """The configuration, as written in a config file, of the ``source`` fixture's peer."""
        raise NotImplementedError

    def load_study(
        self,
        count: int,
        *,
        modality: str = "CT",
        when: datetime | None = None,
        syntaxes: Sequence[str] = (ExplicitVRLittleEndian,),
    ) -> LoadedStudy:
        """Store a new study of ``count`` instances (of ``PATIENT``) on the peer."""
        raise NotImplementedError

    def peer_file(self, sop_uid: str) -> bytes:
        """The Part 10 file the peer holds for that instance."""
        raise NotImplementedError

    # The contract -------------------------------------------------------------------------------

    def test_registry_resolves_the_kind_and_validates_its_config(self, source: Source[Any]) -> None:
        assert sources.resolve(self.kind) is type(source)
        assert source.kind == self.kind
        assert sources.config_model(self.kind) is type(source).config_model
        validated = sources.validate_config(self.config_data())
        assert type(validated) is type(source).config_model
        assert validated == source.config

        with pytest.raises(ValidationError) as bad:
            sources.validate_config({**self.config_data(), **self.invalid})
        assert [e["loc"][0] for e in bad.value.errors()] == list(self.invalid)
        # A near-miss kind is refused by the registry with a suggestion, as a field error.
        with pytest.raises(ValidationError, match=f"did you mean '{self.kind}'"):
            sources.validate_config({**self.config_data(), "type": self.kind + "x"})

    def test_finds_new_studies_since_a_watermark(self, source: Source[Any]) -> None:
        old = self.load_study(1, when=datetime(2024, 3, 14, 9, 0))
        today = self.load_study(3, when=datetime.now())

        recent = source.find_studies(StudyQuery(date_from=date.today() - timedelta(days=1)))
        assert [(s.study_uid, s.instance_count) for s in recent] == [(today.study_uid, 3)]

        every = {s.study_uid: s.instance_count for s in source.find_studies(StudyQuery(date_from=None))}
        assert every == {old.study_uid: 1, today.study_uid: 3}
        assert source.find_studies(StudyQuery(date_from=date.today() + timedelta(days=2))) == []

    def test_query_filters_by_modality_and_accession(self, source: Source[Any]) -> None:
        ct = self.load_study(2, modality="CT")
        mr = self.load_study(1, modality="MR")

        by_modality = source.find_studies(StudyQuery(date_from=None, modalities=("MR",)))
        assert [s.study_uid for s in by_modality] == [mr.study_uid]
        both = source.find_studies(StudyQuery(date_from=None, modalities=("MR", "CT")))
        assert {s.study_uid for s in both} == {ct.study_uid, mr.study_uid}

        pattern = ct.accession[:-1] + "*"
        by_accession = source.find_studies(StudyQuery(date_from=None, accession_pattern=pattern))
        assert [s.study_uid for s in by_accession] == [ct.study_uid]
        assert source.find_studies(StudyQuery(date_from=None, accession_pattern=ct.accession)) == [
            s for s in by_accession
        ]
        limited = source.find_studies(StudyQuery(date_from=None, limit=1))
        assert len(limited) == 1

    def test_lists_every_instance_of_a_study(self, source: Source[Any]) -> None:
        study = self.load_study(3)
        self.load_study(1)  # another study's instances stay out

        listed = source.list_instances(study.study_uid)

        assert sorted(i.sop_uid for i in listed) == sorted(study.sop_uids)
        assert {(i.study_uid, i.series_uid, i.sop_class_uid) for i in listed} == {
            (study.study_uid, study.series_uid, study.sop_class_uid)
        }
        assert source.list_instances("1.2.826.0.1.3680043.8.498.0.404") == []

    def test_retrieve_hands_each_instance_to_the_ingest_sink_as_the_peer_holds_it(
        self, source: Source[Any], sink: SpoolSink
    ) -> None:
        study = self.load_study(3, syntaxes=(ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless))
        listed = source.list_instances(study.study_uid)
        first = next(i for i in listed if i.sop_uid == study.sop_uids[0])

        # One instance, asked for by itself: only it arrives.
        one = source.retrieve(study.study_uid, [first], whole_study=False)
        assert (one.retrieved, one.failed, one.error) == ([first.sop_uid], [], None)
        assert list(sink.arrivals) == [first.sop_uid]

        # The rest, then the whole study at once.
        rest = [i for i in listed if i is not first]
        more = source.retrieve(study.study_uid, rest, whole_study=False)
        assert sorted(more.retrieved) == sorted(i.sop_uid for i in rest) and more.failed == []
        whole = source.retrieve(study.study_uid, listed, whole_study=True)
        assert sorted(whole.retrieved) == sorted(study.sop_uids) and whole.failed == []

        assert sorted(sink.arrivals) == sorted(study.sop_uids)
        for sop_uid, paths in sink.arrivals.items():
            assert len(paths) == 2, sop_uid  # once alone, once with the study
            held = self.peer_file(sop_uid)
            peer_meta = dcmread(BytesIO(held), stop_before_pixels=True).file_meta
            for path in paths:
                meta = dcmread(path, stop_before_pixels=True).file_meta
                assert meta.MediaStorageSOPInstanceUID == sop_uid
                assert meta.MediaStorageSOPClassUID == study.sop_class_uid
                if meta.TransferSyntaxUID == peer_meta.TransferSyntaxUID:
                    # Kept byte for byte as the peer holds it; only the File Meta is ours.
                    assert dataset_bytes(path.read_bytes()) == dataset_bytes(held), sop_uid
                else:
                    # The peer may send an uncompressed instance in the other little-endian VR
                    # encoding (DIMSE negotiates it): the same elements, the same values.
                    assert {meta.TransferSyntaxUID, peer_meta.TransferSyntaxUID} <= set(UNCOMPRESSED_LE), (
                        meta.TransferSyntaxUID,
                        peer_meta.TransferSyntaxUID,
                    )
                    assert dcmread(path) == dcmread(BytesIO(held)), sop_uid
        for received in sink.received:
            assert received.sop_class_uid == study.sop_class_uid

    def test_refusal_raises_source_error_without_phi(self, refusal: SourceRefusal) -> None:
        study = self.load_study(1)
        instance = RemoteInstance(study.study_uid, study.series_uid, study.sop_uids[0], study.sop_class_uid)
        messages: list[str] = []
        for what, call in (
            ("find_studies", lambda: refusal.source.find_studies(StudyQuery(date_from=None))),
            ("list_instances", lambda: refusal.source.list_instances(study.study_uid)),
        ):
            with pytest.raises(SourceError) as caught:
                call()
            messages.append(_checked(caught.value, what))
        # A refused retrieve either raises, or reports the instance failed with the reason.
        try:
            result = refusal.source.retrieve(study.study_uid, [instance], whole_study=False)
        except SourceError as exc:
            messages.append(_checked(exc, "retrieve"))
        else:
            assert (result.retrieved, result.failed) == ([], [instance.sop_uid])
            assert result.error
            messages.append(result.error)
        refusal.source.close()

        for message in messages:
            assert refusal.why in message, message
            # No PHI in what gets logged and recorded.
            for phi in (PATIENT.name, PATIENT.patient_id, PATIENT.birth_date, study.accession):
                assert phi not in message, message


def _checked(error: SourceError, what: str) -> str:
    """The error's message, once it is shown to chain no other exception's text (an exception
    from the HTTP or DICOM library may quote a request, and with it an identifier)."""
    assert error.__cause__ is None, what
    assert error.__context__ is None or error.__suppress_context__, what
    return str(error)
