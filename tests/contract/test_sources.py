"""The source contract (``source_contract.py``) for the built-in kinds, against one real Orthanc per
module: DICOMweb (QIDO-RS/WADO-RS, behind Orthanc's HTTP login), DIMSE (C-FIND and C-GET) and the
Google Healthcare API source (the Healthcare API fake, bearer token, in front of the same Orthanc).

How the poll uses a source (ledger, watermark, backoff, C-MOVE through the listener) is
``tests/integration/test_sources.py``'s subject; here each plugin alone meets its peer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydicom import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from axiom import sources
from axiom.config import Settings
from axiom.dicom.spool import Spool
from axiom.sources import Source
from axiom.sources.healthcare import HealthcareSource, HealthcareSourceConfig
from tests.contract.source_contract import PATIENT, LoadedStudy, SourceContract, SourceRefusal, SpoolSink
from tests.factories import make_dataset
from tests.support.dcmtk import free_port
from tests.support.healthcare import FakeHealthcareAPI
from tests.support.orthanc import Orthanc, dicomweb_plugin, orthanc_available
from tests.support.services import require

LOGIN = ("axiom", "pw-" + generate_uid()[-12:])
PASSWORD_ENV = "AXIOM_CONTRACT_PACS_PASSWORD"
TOKEN = "ya29.contract-" + generate_uid()[-12:]
TOKEN_ENV = "AXIOM_CONTRACT_GCP_TOKEN"


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """One Orthanc for the module, with the DICOMweb plugin and an HTTP login; emptied per test."""
    require("Orthanc", orthanc_available(), "/usr/sbin/Orthanc is not installed")
    require("orthanc-dicomweb", dicomweb_plugin() is not None, "the orthanc-dicomweb plugin is not installed")
    overrides = {
        "AuthenticationEnabled": True,
        "RegisteredUsers": {LOGIN[0]: LOGIN[1]},
        # Orthanc answers C-FIND and C-GET from an AE it knows.
        "DicomModalities": {"axiom": ["AXIOM", "127.0.0.1", free_port()]},
    }
    server = Orthanc(tmp_path_factory.mktemp("source-contract") / "orthanc", config_overrides=overrides)
    server.session.auth = LOGIN  # the test's own REST calls log in
    with server:
        yield server


@pytest.fixture(autouse=True)
def empty_pacs(pacs: Orthanc) -> None:
    for study_id in pacs.get("/studies"):
        pacs.delete(f"/studies/{study_id}")


@pytest.fixture
def sink(tmp_path: Path) -> SpoolSink:
    return SpoolSink(Spool(tmp_path / "spool", tmp_path / "quarantine", fsync=False))


class OrthancPeer:
    """The peer hooks for sources whose peer is (or stands in front of) ``pacs``."""

    pacs: Orthanc

    def load_study(
        self,
        count: int,
        *,
        modality: str = "CT",
        when: datetime | None = None,
        syntaxes: Sequence[str] = (ExplicitVRLittleEndian,),
    ) -> LoadedStudy:
        study_uid, series_uid = generate_uid(), generate_uid()
        accession = "ACC" + study_uid[-8:]
        uids: list[str] = []
        for number in range(count):
            ds = make_dataset(
                modality=modality,
                patient=PATIENT,
                study_uid=study_uid,
                series_uid=series_uid,
                instance_number=number + 1,
                accession=accession,
                study_datetime=when,
                transfer_syntax=syntaxes[number % len(syntaxes)],
            )
            # The peer counts the study's instances itself.
            for keyword in ("NumberOfStudyRelatedInstances", "NumberOfSeriesRelatedInstances"):
                delattr(ds, keyword)
            buffer = BytesIO()
            dcmwrite(buffer, ds, enforce_file_format=True)
            self.pacs.upload(buffer.getvalue())
            uids.append(str(ds.SOPInstanceUID))
            sop_class_uid = str(ds.SOPClassUID)
        return LoadedStudy(study_uid, uids, series_uid, sop_class_uid, accession)

    def peer_file(self, sop_uid: str) -> bytes:
        instance_id = self.pacs.find_instance(sop_uid)
        assert instance_id is not None, sop_uid
        return self.pacs.instance_file(instance_id)


def _build(data: dict[str, Any], settings: Settings, sink: SpoolSink) -> Source[Any]:
    config = sources.validate_config(data)
    return sources.resolve(data["type"])(config, settings, sink)


# DICOMweb ---------------------------------------------------------------------------------------


class TestDicomwebSourceContract(OrthancPeer, SourceContract):
    kind = "dicomweb"
    invalid: ClassVar[dict[str, Any]] = {"url": "ftp://pacs.example.org/dicom-web"}

    def config_data(self, **changes: Any) -> dict[str, Any]:
        return {
            "name": "web-pacs",
            "type": "dicomweb",
            "url": self.pacs.dicomweb_url,
            "username": LOGIN[0],
            "password_env": PASSWORD_ENV,
            "schedule": {"every_seconds": 60},
            "timeout_seconds": 10,
            **changes,
        }

    @pytest.fixture
    def source(
        self,
        pacs: Orthanc,
        sink: SpoolSink,
        settings_factory: Callable[..., Settings],
        monkeypatch: pytest.MonkeyPatch,
    ) -> Iterator[Source[Any]]:
        self.pacs = pacs
        monkeypatch.setenv(PASSWORD_ENV, LOGIN[1])
        source = _build(self.config_data(), settings_factory(), sink)
        yield source
        source.close()

    @pytest.fixture(params=["wrong-password", "wrong-path", "nothing-listening"])
    def refusal(
        self,
        request: pytest.FixtureRequest,
        pacs: Orthanc,
        sink: SpoolSink,
        settings_factory: Callable[..., Settings],
        monkeypatch: pytest.MonkeyPatch,
    ) -> SourceRefusal:
        self.pacs = pacs
        monkeypatch.setenv(PASSWORD_ENV, LOGIN[1])
        if request.param == "wrong-password":
            monkeypatch.setenv(PASSWORD_ENV, "not-" + LOGIN[1])
            data, why = self.config_data(), "HTTP 401"
        elif request.param == "wrong-path":
            data, why = self.config_data(url=f"{pacs.url}/no-such-root"), "HTTP 404"
        else:
            data, why = self.config_data(url=f"http://127.0.0.1:{free_port()}/dicom-web"), "ConnectionError"
        return SourceRefusal(_build(data, settings_factory(), sink), why)


# DIMSE ------------------------------------------------------------------------------------------


class TestDimseSourceContract(OrthancPeer, SourceContract):
    """C-FIND and C-GET on the poll's own association (C-MOVE answers through Axiom's listener:
    ``tests/integration/test_sources.py``)."""

    kind = "dimse"
    invalid: ClassVar[dict[str, Any]] = {"port": 70000}

    def config_data(self, **changes: Any) -> dict[str, Any]:
        return {
            "name": "dimse-pacs",
            "type": "dimse",
            "host": self.pacs.host,
            "port": self.pacs.dicom_port,
            "ae_title": self.pacs.ae_title,
            "calling_ae_title": "AXIOM",
            "retrieve": "get",
            "schedule": {"every_seconds": 60},
            "timeout_seconds": 10,
            **changes,
        }

    @pytest.fixture
    def source(
        self, pacs: Orthanc, sink: SpoolSink, settings_factory: Callable[..., Settings]
    ) -> Iterator[Source[Any]]:
        self.pacs = pacs
        source = _build(self.config_data(), settings_factory(), sink)
        yield source
        source.close()

    @pytest.fixture(params=["wrong-called-ae", "nothing-listening"])
    def refusal(
        self,
        request: pytest.FixtureRequest,
        pacs: Orthanc,
        sink: SpoolSink,
        settings_factory: Callable[..., Settings],
    ) -> SourceRefusal:
        self.pacs = pacs
        if request.param == "wrong-called-ae":
            data = self.config_data(ae_title="NOT-ORTHANC")
        else:
            data = self.config_data(port=free_port())
        return SourceRefusal(_build(data, settings_factory(), sink), "no association with")


# Google Cloud Healthcare API --------------------------------------------------------------------


@pytest.fixture(scope="module")
def healthcare_api(pacs: Orthanc) -> Iterator[FakeHealthcareAPI]:
    with FakeHealthcareAPI(pacs, TOKEN) as api:
        yield api


class TestHealthcareSourceContract(OrthancPeer, SourceContract):
    kind = "healthcare"
    invalid: ClassVar[dict[str, Any]] = {"project": ""}

    api: FakeHealthcareAPI

    def config_data(self, **changes: Any) -> dict[str, Any]:
        return {
            "name": "gcp-store",
            "type": "healthcare",
            "project": "proj",
            "location": "europe-west4",
            "dataset": "ds",
            "dicom_store": "store",
            "base_url": self.api.base_url,
            "token_env": TOKEN_ENV,
            "schedule": {"every_minutes": 1},
            "timeout_seconds": 10,
            **changes,
        }

    @pytest.fixture
    def source(
        self,
        pacs: Orthanc,
        healthcare_api: FakeHealthcareAPI,
        sink: SpoolSink,
        settings_factory: Callable[..., Settings],
        monkeypatch: pytest.MonkeyPatch,
    ) -> Iterator[Source[Any]]:
        self.pacs, self.api = pacs, healthcare_api
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        source = _build(self.config_data(), settings_factory(), sink)
        yield source
        source.close()

    def test_reads_the_store_path_with_a_bearer_token(self, source: Source[Any]) -> None:
        assert isinstance(source.config, HealthcareSourceConfig)
        assert source.config.dicomweb_url == (
            f"{self.api.base_url}/projects/proj/locations/europe-west4/datasets/ds/dicomStores/store/dicomWeb"
        )
        study = self.load_study(1)
        unauthorized, reads = self.api.seen.unauthorized, len(self.api.seen.reads)
        assert [i.sop_uid for i in source.list_instances(study.study_uid)] == study.sop_uids
        assert self.api.seen.reads[reads:]  # QIDO-RS pages, each through the store's path
        assert set(self.api.seen.reads[reads:]) == {("proj", "europe-west4", "ds", "store")}
        assert self.api.seen.unauthorized == unauthorized
        # Google's own API root unless told otherwise.
        unset = {key: value for key, value in self.config_data().items() if key != "base_url"}
        default = HealthcareSourceConfig.model_validate(unset)
        assert default.dicomweb_url.startswith("https://healthcare.googleapis.com/v1/projects/proj/")

    @pytest.fixture(params=["wrong-token", "token-missing", "nothing-listening"])
    def refusal(
        self,
        request: pytest.FixtureRequest,
        pacs: Orthanc,
        healthcare_api: FakeHealthcareAPI,
        sink: SpoolSink,
        settings_factory: Callable[..., Settings],
        monkeypatch: pytest.MonkeyPatch,
    ) -> SourceRefusal:
        self.pacs, self.api = pacs, healthcare_api
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        data = self.config_data()
        if request.param == "wrong-token":
            monkeypatch.setenv(TOKEN_ENV, "ya29.expired")
            why = "HTTP 401"
        elif request.param == "token-missing":
            monkeypatch.delenv(TOKEN_ENV)
            why = f"{TOKEN_ENV} holds no access token"
        else:
            data = self.config_data(base_url=f"http://127.0.0.1:{free_port()}/v1")
            why = "ConnectionError"
        source = _build(data, settings_factory(), sink)
        assert isinstance(source, HealthcareSource)
        return SourceRefusal(source, why)
