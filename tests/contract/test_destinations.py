"""The destination contract (``destination_contract.py``) for the built-in kinds with local peers:
files, Orthanc (C-STORE, STOW-RS), the Healthcare API fake and the GCS emulator."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from axiom.config import Settings
from axiom.destinations import DeliveryError, Destination, resolve
from axiom.destinations.cstore import CStoreDestination, CStoreDestinationConfig
from axiom.destinations.filesystem import FilesystemDestination, FilesystemDestinationConfig
from axiom.destinations.gcs import GCSDestinationConfig, crc32c_base64, md5_base64
from axiom.destinations.healthcare import HealthcareDestinationConfig
from axiom.destinations.stowrs import DICOMwebDestination, STOWRSDestination, STOWRSDestinationConfig
from axiom.dicom.atomic import is_temp_name
from axiom.dicom.paths import PathTemplate
from axiom.domain.instances import OutgoingInstance
from axiom.domain.secrets import SecretRef
from tests.contract.destination_contract import (
    UNCOMPRESSED_LE,
    DestinationContract,
    Refusal,
)
from tests.factories import LARGE, Corpus, make_dataset, outgoing_instance, write_instance
from tests.support.dcmtk import free_port
from tests.support.gcs import GCSEmulator, require_gcs_emulator
from tests.support.healthcare import FakeHealthcareAPI
from tests.support.orthanc import Orthanc, orthanc_available
from tests.support.services import require
from tests.support.tmpfs import small_tmpfs

# Filesystem ------------------------------------------------------------------------------------


class TestFilesystemContract(DestinationContract):
    kind = "filesystem"

    @pytest.fixture
    def destination(self, settings_factory: Callable[..., Settings]) -> Iterator[Destination]:
        config = FilesystemDestinationConfig(name="archive")
        dest = resolve("filesystem")(config, settings_factory())
        assert isinstance(dest, FilesystemDestination)
        self.root = dest.root
        yield dest
        dest.close()

    def _files(self) -> list[Path]:
        if not self.root.exists():
            return []
        files = [p for p in self.root.rglob("*") if p.is_file()]
        assert not [p for p in files if is_temp_name(p.name)], "temporary files left behind"
        return files

    def stored_uids(self) -> list[str]:
        return [str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in self._files()]

    def _read(self, sop_instance_uid: str) -> Path:
        for path in self._files():
            if dcmread(path, stop_before_pixels=True).SOPInstanceUID == sop_instance_uid:
                return path
        raise AssertionError(f"{sop_instance_uid} not stored")

    def stored_tag(self, sop_instance_uid: str, keyword: str) -> str:
        return str(dcmread(self._read(sop_instance_uid)).get(keyword))

    def stored_transfer_syntax(self, sop_instance_uid: str) -> str:
        return str(dcmread(self._read(sop_instance_uid), stop_before_pixels=True).file_meta.TransferSyntaxUID)

    def test_unchanged_instance_is_a_byte_copy_of_the_spooled_file(
        self, destination: Destination, corpus_small: Corpus
    ) -> None:
        info = corpus_small.instances[3]
        where = destination.send(outgoing_instance(info.path))
        assert Path(where).read_bytes() == info.path.read_bytes()
        assert Path(where).relative_to(self.root).parts == (
            info.study_instance_uid,
            info.series_instance_uid,
            f"{info.sop_instance_uid}.dcm",
        )

    @pytest.fixture(params=["root-is-a-file", "disk-full"])
    def refusal(
        self, request: pytest.FixtureRequest, tmp_path: Path, settings_factory: Callable[..., Settings]
    ) -> Iterator[Refusal]:
        settings = settings_factory()
        if request.param == "root-is-a-file":
            blocker = tmp_path / "not-a-folder"
            blocker.write_bytes(b"")
            config = FilesystemDestinationConfig(name="blocked", root=str(blocker))
            instance = outgoing_instance(write_instance(make_dataset(), tmp_path / "in.dcm"))
            yield Refusal(resolve("filesystem")(config, settings), instance, False, ("ENOTDIR", "EEXIST"))
            return
        with small_tmpfs(tmp_path / "small", size_kib=128) as mount:
            # 512x512 16-bit: 512 KiB of pixels cannot fit in 128 KiB.
            big = write_instance(make_dataset(rows=LARGE, columns=LARGE), tmp_path / "big.dcm")
            config = FilesystemDestinationConfig(name="full", root=str(mount / "archive"))
            yield Refusal(resolve("filesystem")(config, settings), outgoing_instance(big), True, ("ENOSPC",))
            leftovers = [p for p in mount.rglob("*") if p.is_file()]
            assert leftovers == [], "a failed write left a file on the full disk"


# C-STORE against a real Orthanc -----------------------------------------------------------------


class TestCStoreContract(DestinationContract):
    kind = "cstore"

    @pytest.fixture
    def destination(
        self, orthanc: Orthanc, settings_factory: Callable[..., Settings]
    ) -> Iterator[Destination]:
        self.orthanc = orthanc
        config = CStoreDestinationConfig(
            name="pacs", host=orthanc.host, port=orthanc.dicom_port, ae_title="ORTHANC"
        )
        dest = resolve("cstore")(config, settings_factory())
        yield dest
        dest.close()

    def stored_uids(self) -> list[str]:
        uids = sorted(self.orthanc.instance_uids())
        assert self.orthanc.count_instances() == len(uids)
        return uids

    def stored_tag(self, sop_instance_uid: str, keyword: str) -> str:
        return str(self.orthanc.instance_tags(sop_instance_uid)[keyword])

    def stored_transfer_syntax(self, sop_instance_uid: str) -> str:
        instance_id = self.orthanc.find_instance(sop_instance_uid)
        assert instance_id is not None
        return self.orthanc.transfer_syntax(instance_id)

    def test_sends_share_one_association(self, destination: Destination, corpus_small: Corpus) -> None:
        assert isinstance(destination, CStoreDestination)
        # One SOP class, uncompressed: a single presentation context covers every one of them.
        same = [i for i in corpus_small if i.modality == "CT" and i.transfer_syntax_uid in UNCOMPRESSED_LE]
        assert len(same) >= 4

        for info in same:
            destination.send(outgoing_instance(info.path))

        assert destination.associations_opened == 1
        assert sorted(self.orthanc.instance_uids()) == sorted(i.sop_instance_uid for i in same)

    def test_contexts_accumulate_so_mixed_traffic_settles_on_one_association(
        self, destination: Destination, corpus_small: Corpus
    ) -> None:
        assert isinstance(destination, CStoreDestination)
        for info in corpus_small:
            destination.send(outgoing_instance(info.path))
        after_first_pass = destination.associations_opened
        distinct = {
            (i.sop_class_uid, i.transfer_syntax_uid in UNCOMPRESSED_LE or i.transfer_syntax_uid)
            for i in corpus_small
        }
        assert 1 < after_first_pass <= len(distinct)

        # Every (SOP class, syntax) pair is now proposed together: a second pass needs no new one.
        for info in reversed(corpus_small.instances):
            destination.send(outgoing_instance(info.path))

        assert destination.associations_opened == after_first_pass
        assert self.orthanc.count_instances() == len(corpus_small)

    def test_orthanc_down_then_up(self, destination: Destination, corpus_small: Corpus) -> None:
        assert isinstance(destination, CStoreDestination)
        same = [i for i in corpus_small if i.modality == "CT" and i.transfer_syntax_uid in UNCOMPRESSED_LE]
        first, second, third = same[:3]
        destination.send(outgoing_instance(first.path))

        self.orthanc.stop()
        with pytest.raises(DeliveryError) as caught:
            destination.send(outgoing_instance(second.path))
        assert caught.value.transient

        self.orthanc.start()
        destination.send(outgoing_instance(second.path))
        destination.send(outgoing_instance(third.path))
        assert sorted(self.orthanc.instance_uids()) == sorted(
            [first.sop_instance_uid, second.sop_instance_uid, third.sop_instance_uid]
        )
        assert destination.associations_opened == 2

    @pytest.fixture(params=["wrong-called-ae", "orthanc-stopped", "nothing-listening"])
    def refusal(
        self,
        request: pytest.FixtureRequest,
        orthanc: Orthanc,
        corpus_small: Corpus,
        settings_factory: Callable[..., Settings],
        tmp_path: Path,
    ) -> Iterator[Refusal]:
        instance = outgoing_instance(corpus_small.instances[0].path)
        port, ae_title = orthanc.dicom_port, "ORTHANC"
        if request.param == "wrong-called-ae":
            ae_title, transient, codes = "NOT-ORTHANC", False, ("rejected-permanent",)
        elif request.param == "orthanc-stopped":
            orthanc.stop()
            transient, codes = True, ("connect-failed",)
        else:
            port, transient, codes = free_port(), True, ("connect-failed",)
        config = CStoreDestinationConfig(
            name="pacs", host=orthanc.host, port=port, ae_title=ae_title, timeout_seconds=5
        )
        dest = resolve("cstore")(config, settings_factory())
        yield Refusal(dest, instance, transient, codes)
        dest.close()
        if orthanc.running:
            assert orthanc.count_instances() == 0


# STOW-RS against a real Orthanc with its DICOMweb plugin --------------------------------------------


def require_dicomweb(orthanc: Orthanc) -> None:
    require("orthanc-dicomweb", orthanc.plugin is not None, "the Orthanc DICOMweb plugin is not installed")


def broken_instance(path: Path) -> OutgoingInstance:
    """A copy of the instance at ``path`` under a new SOP Instance UID and without its Series Instance
    UID: a DICOMweb server can parse it but not file it (Orthanc: FailureReason 0xC000)."""
    instance = outgoing_instance(path, keep_source=False)
    ds = instance.dataset
    ds.SOPInstanceUID = generate_uid()
    del ds.SeriesInstanceUID
    return OutgoingInstance(ds, None, str(ds.SOPInstanceUID), instance.study_instance_uid)


class OrthancReadBack:
    """Read-back hooks for destinations whose target is ``self.orthanc``."""

    orthanc: Orthanc

    def stored_uids(self) -> list[str]:
        uids = sorted(self.orthanc.instance_uids())
        assert self.orthanc.count_instances() == len(uids)
        return uids

    def stored_tag(self, sop_instance_uid: str, keyword: str) -> str:
        return str(self.orthanc.instance_tags(sop_instance_uid)[keyword])

    def stored_transfer_syntax(self, sop_instance_uid: str) -> str:
        instance_id = self.orthanc.find_instance(sop_instance_uid)
        assert instance_id is not None
        return self.orthanc.transfer_syntax(instance_id)


class TestStowRSContract(OrthancReadBack, DestinationContract):
    kind = "stowrs"

    @pytest.fixture
    def destination(
        self, orthanc: Orthanc, settings_factory: Callable[..., Settings]
    ) -> Iterator[Destination]:
        require_dicomweb(orthanc)
        self.orthanc = orthanc
        config = STOWRSDestinationConfig(name="web", url=orthanc.dicomweb_url, batch_size=10)
        dest = resolve("stowrs")(config, settings_factory())
        yield dest
        dest.close()

    def test_batch_sends_each_study_in_requests_of_batch_size(
        self, destination: Destination, corpus_small: Corpus
    ) -> None:
        assert isinstance(destination, STOWRSDestination) and destination.supports_batch
        instances = [outgoing_instance(info.path) for info in corpus_small]
        studies: dict[str, int] = {}
        for instance in instances:
            studies[instance.study_instance_uid] = studies.get(instance.study_instance_uid, 0) + 1

        results = destination.send_batch(instances)

        assert all(isinstance(r, str) for r in results), results
        assert self.stored_uids() == sorted(corpus_small.sop_instance_uids)
        assert destination.requests_sent == sum(-(-count // 10) for count in studies.values())
        assert destination.requests_sent < len(instances)

    def test_partly_failed_batch_reports_only_what_failed(
        self, destination: Destination, corpus_small: Corpus
    ) -> None:
        infos = corpus_small.instances[:2]
        good = [outgoing_instance(info.path) for info in infos]
        bad = broken_instance(infos[0].path)
        # One study: the broken instance travels in the same request as the good ones.
        same_study = [
            OutgoingInstance(i.dataset, i.source_file, i.sop_instance_uid, bad.study_instance_uid)
            for i in good
        ]

        results = destination.send_batch([same_study[0], bad, same_study[1]])

        assert isinstance(results[0], str) and isinstance(results[2], str)
        error = results[1]
        assert isinstance(error, DeliveryError)
        assert error.transient is False and error.code == "0xC000"
        assert bad.sop_instance_uid in str(error)
        assert self.stored_uids() == sorted(i.sop_instance_uid for i in infos)

    def test_basic_auth_password_comes_from_a_secret(
        self, tmp_path: Path, corpus_small: Corpus, settings_factory: Callable[..., Settings]
    ) -> None:
        require("Orthanc", orthanc_available(), "/usr/sbin/Orthanc is not installed")
        password = "s3cret-pw-" + generate_uid()[-8:]
        users = {"RegisteredUsers": {"axiom": password}, "AuthenticationEnabled": True}
        server = Orthanc(tmp_path / "auth-orthanc", config_overrides=users)
        # The test's own REST calls (readiness, read-back) log in too.
        server.session.auth = ("axiom", password)
        with server:
            require_dicomweb(server)
            secrets = tmp_path / "secrets.yaml"
            secrets.write_text(f"PACS_PASSWORD: {password}\n")
            settings = settings_factory(secrets_file=secrets)
            info = corpus_small.instances[0]
            auth = {"type": "basic", "user": "axiom", "password": {"secret": "PACS_PASSWORD"}}
            config = STOWRSDestinationConfig.model_validate(
                {"name": "web", "url": server.dicomweb_url, "auth": auth}
            )
            assert password not in config.model_dump_json()
            resolve("stowrs")(config, settings).send(outgoing_instance(info.path))

            wrong = {**auth, "password": {"secret": "WRONG_PASSWORD"}}
            secrets.write_text(f"PACS_PASSWORD: {password}\nWRONG_PASSWORD: nope\n")
            other = STOWRSDestinationConfig.model_validate(
                {"name": "web", "url": server.dicomweb_url, "auth": wrong}
            )
            with pytest.raises(DeliveryError) as caught:
                resolve("stowrs")(other, settings).send(outgoing_instance(corpus_small.instances[1].path))
            assert caught.value.code == "http-401" and caught.value.transient is False
            assert password not in str(caught.value)
            assert server.count_instances() == 1

    @pytest.fixture(params=["broken-instance", "wrong-path", "orthanc-stopped", "nothing-listening"])
    def refusal(
        self,
        request: pytest.FixtureRequest,
        orthanc: Orthanc,
        corpus_small: Corpus,
        settings_factory: Callable[..., Settings],
    ) -> Iterator[Refusal]:
        require_dicomweb(orthanc)
        instance = outgoing_instance(corpus_small.instances[0].path)
        url = orthanc.dicomweb_url
        if request.param == "broken-instance":
            instance, transient, codes = broken_instance(corpus_small.instances[0].path), False, ("0xC000",)
        elif request.param == "wrong-path":
            url, transient, codes = f"{orthanc.url}/no-such-service", False, ("http-404",)
        elif request.param == "orthanc-stopped":
            orthanc.stop()
            transient, codes = True, ("connect-failed",)
        else:
            url, transient, codes = (
                f"http://{orthanc.host}:{free_port()}/dicom-web",
                True,
                ("connect-failed",),
            )
        config = STOWRSDestinationConfig(name="web", url=url, timeout_seconds=5)
        dest = resolve("stowrs")(config, settings_factory())
        yield Refusal(dest, instance, transient, codes)
        dest.close()
        if orthanc.running:
            assert orthanc.count_instances() == 0


# Google Healthcare API: STOW-RS with a bearer token, through a stand-in that checks it --------------


def service_account_key(token_uri: str) -> tuple[str, bytes]:
    """A fresh service-account key as Google issues it (JSON), and its public key (PEM)."""
    for package, module in (("google-auth", "google.auth"), ("cryptography", "cryptography")):
        require(package, importlib.util.find_spec(module) is not None, "Python package not installed")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = {
        "type": "service_account",
        "project_id": "my-project",
        "private_key_id": "test-key-1",
        "private_key": private_pem,
        "client_email": "axiom-router@my-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    return json.dumps(info), public_pem


class TestHealthcareContract(OrthancReadBack, DestinationContract):
    kind = "healthcare"
    store = ("my-project", "europe-west4", "imaging", "router-out")

    @pytest.fixture
    def healthcare_api(self, orthanc: Orthanc) -> Iterator[FakeHealthcareAPI]:
        require_dicomweb(orthanc)
        with FakeHealthcareAPI(orthanc, "token-" + generate_uid()[-16:]) as api:
            yield api

    def config(self, api: FakeHealthcareAPI, **overrides: Any) -> HealthcareDestinationConfig:
        project, location, dataset, store = self.store
        values: dict[str, Any] = {
            "name": "gcp",
            "project": project,
            "location": location,
            "dataset": dataset,
            "dicom_store": store,
            "base_url": api.base_url,
            "token": SecretRef(secret="HEALTHCARE_TOKEN"),
            **overrides,
        }
        return HealthcareDestinationConfig(**values)

    @staticmethod
    def settings_with(
        settings_factory: Callable[..., Settings], tmp_path: Path, secrets: dict[str, str]
    ) -> Settings:
        path = tmp_path / "secrets.json"
        path.write_text(json.dumps(secrets))
        return settings_factory(secrets_file=path)

    @pytest.fixture
    def destination(
        self,
        orthanc: Orthanc,
        healthcare_api: FakeHealthcareAPI,
        settings_factory: Callable[..., Settings],
        tmp_path: Path,
    ) -> Iterator[Destination]:
        self.orthanc, self.api = orthanc, healthcare_api
        settings = self.settings_with(settings_factory, tmp_path, {"HEALTHCARE_TOKEN": healthcare_api.token})
        dest = resolve("healthcare")(self.config(healthcare_api), settings)
        assert isinstance(dest, DICOMwebDestination)
        yield dest
        dest.close()

    def test_requests_address_the_configured_dicom_store(
        self, destination: Destination, corpus_small: Corpus
    ) -> None:
        assert destination.supports_batch
        destination.send_batch([outgoing_instance(info.path) for info in corpus_small.instances[:3]])
        assert set(self.api.seen.stores) == {self.store}
        assert self.api.seen.unauthorized == 0

    def test_service_account_key_from_a_secret(
        self,
        orthanc: Orthanc,
        healthcare_api: FakeHealthcareAPI,
        corpus_small: Corpus,
        settings_factory: Callable[..., Settings],
        tmp_path: Path,
    ) -> None:
        self.orthanc = orthanc
        key_json, public_pem = service_account_key(healthcare_api.token_uri)
        healthcare_api.certificate_pem = public_pem
        settings = self.settings_with(settings_factory, tmp_path, {"GCP_KEY": key_json})
        config = self.config(healthcare_api, token=None, credentials=SecretRef(secret="GCP_KEY"))
        dest = resolve("healthcare")(config, settings)
        try:
            for info in corpus_small.instances[:2]:
                dest.send(outgoing_instance(info.path))
        finally:
            dest.close()
        # One token, fetched with a JWT signed by the key, serves both requests.
        assert healthcare_api.seen.token_requests == 1
        assert self.stored_uids() == sorted(i.sop_instance_uid for i in corpus_small.instances[:2])

    @pytest.fixture(
        params=[
            "wrong-token",
            "secret-missing",
            "bad-service-account-key",
            "untrusted-service-account",
            "api-down",
        ]
    )
    def refusal(
        self,
        request: pytest.FixtureRequest,
        orthanc: Orthanc,
        healthcare_api: FakeHealthcareAPI,
        corpus_small: Corpus,
        settings_factory: Callable[..., Settings],
        tmp_path: Path,
    ) -> Iterator[Refusal]:
        instance = outgoing_instance(corpus_small.instances[0].path)
        secrets = {"HEALTHCARE_TOKEN": "not-" + healthcare_api.token}
        config = self.config(healthcare_api, timeout_seconds=5)
        if request.param == "wrong-token":
            transient, codes = False, ("http-401",)
        elif request.param == "secret-missing":
            secrets, transient, codes = {}, False, ("credentials",)
        elif request.param == "bad-service-account-key":
            secrets = {"GCP_KEY": '{"type": "service_account", "private_key": "not a key"}'}
            config = self.config(healthcare_api, token=None, credentials=SecretRef(secret="GCP_KEY"))
            transient, codes = False, ("credentials",)
        elif request.param == "untrusted-service-account":
            # A well-formed key the token endpoint does not know: it refuses the signed assertion.
            key_json, _ = service_account_key(healthcare_api.token_uri)
            healthcare_api.certificate_pem = service_account_key(healthcare_api.token_uri)[1]
            secrets = {"GCP_KEY": key_json}
            config = self.config(healthcare_api, token=None, credentials=SecretRef(secret="GCP_KEY"))
            transient, codes = False, ("token-refused",)
        else:
            healthcare_api.stop()
            secrets, transient, codes = {"HEALTHCARE_TOKEN": healthcare_api.token}, True, ("connect-failed",)
        dest = resolve("healthcare")(config, self.settings_with(settings_factory, tmp_path, secrets))
        yield Refusal(dest, instance, transient, codes)
        dest.close()
        assert orthanc.count_instances() == 0
        if request.param == "wrong-token":
            assert healthcare_api.seen.unauthorized == 1


# Google Cloud Storage against a local emulator, through the real client ----------------------------


class TestGCSContract(DestinationContract):
    kind = "gcs"

    @pytest.fixture
    def gcs(self, tmp_path: Path) -> Iterator[GCSEmulator]:
        require_gcs_emulator()
        with GCSEmulator(tmp_path / "gcs") as emulator:
            yield emulator

    @pytest.fixture
    def destination(
        self, gcs: GCSEmulator, settings_factory: Callable[..., Settings]
    ) -> Iterator[Destination]:
        self.gcs = gcs
        config = GCSDestinationConfig(name="bucket", bucket=gcs.bucket, endpoint=gcs.url, timeout_seconds=10)
        dest = resolve("gcs")(config, settings_factory())
        yield dest
        dest.close()

    def _datasets(self) -> dict[str, Any]:
        return {blob.name: dcmread(BytesIO(blob.download_as_bytes())) for blob in self.gcs.blobs()}

    def _read(self, sop_instance_uid: str) -> Any:
        for ds in self._datasets().values():
            if ds.SOPInstanceUID == sop_instance_uid:
                return ds
        raise AssertionError(f"{sop_instance_uid} not stored")

    def stored_uids(self) -> list[str]:
        return sorted(str(ds.SOPInstanceUID) for ds in self._datasets().values())

    def stored_tag(self, sop_instance_uid: str, keyword: str) -> str:
        return str(self._read(sop_instance_uid).get(keyword))

    def stored_transfer_syntax(self, sop_instance_uid: str) -> str:
        return str(self._read(sop_instance_uid).file_meta.TransferSyntaxUID)

    def test_unchanged_instance_is_a_byte_copy_with_verified_digests(
        self, destination: Destination, corpus_small: Corpus
    ) -> None:
        info = corpus_small.instances[3]
        where = destination.send(outgoing_instance(info.path))

        name = f"{info.study_instance_uid}/{info.series_instance_uid}/{info.sop_instance_uid}.dcm"
        assert where == f"gs://{self.gcs.bucket}/{name}"
        blob = self.gcs.client().bucket(self.gcs.bucket).get_blob(name)
        data = info.path.read_bytes()
        assert blob.download_as_bytes() == data
        assert blob.content_type == "application/dicom"
        assert blob.md5_hash == md5_base64(data) and blob.crc32c == crc32c_base64(data)

    def test_object_name_template_sanitizes_tag_values(
        self, gcs: GCSEmulator, tmp_path: Path, settings_factory: Callable[..., Settings]
    ) -> None:
        ds = make_dataset()
        ds.PatientID = "../../etc/pass wd"
        instance = outgoing_instance(write_instance(ds, tmp_path / "hostile.dcm"))
        template = "{PatientID}/{Modality}-{SOPInstanceUID}.dcm"
        config = GCSDestinationConfig(name="b", bucket=gcs.bucket, endpoint=gcs.url, object_template=template)
        dest = resolve("gcs")(config, settings_factory())

        where = dest.send(instance)

        expected = str(PathTemplate.parse(template).render(instance.dataset))
        assert expected.startswith("_._.._etc_pass_wd/CT-")
        assert where.endswith("/" + expected)
        assert [blob.name for blob in gcs.blobs()] == [expected]

    def test_storage_emulator_host_is_honoured(
        self,
        gcs: GCSEmulator,
        corpus_small: Corpus,
        settings_factory: Callable[..., Settings],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        self.gcs = gcs
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
        config = GCSDestinationConfig(name="bucket", bucket=gcs.bucket)
        dest = resolve("gcs")(config, settings_factory())
        info = corpus_small.instances[0]

        dest.send(outgoing_instance(info.path))

        assert self.stored_uids() == [info.sop_instance_uid]

    @pytest.fixture(params=["bucket-missing", "secret-missing", "emulator-stopped", "nothing-listening"])
    def refusal(
        self,
        request: pytest.FixtureRequest,
        gcs: GCSEmulator,
        corpus_small: Corpus,
        settings_factory: Callable[..., Settings],
    ) -> Iterator[Refusal]:
        instance = outgoing_instance(corpus_small.instances[0].path)
        values: dict[str, Any] = {
            "name": "bucket",
            "bucket": gcs.bucket,
            "endpoint": gcs.url,
            "timeout_seconds": 5,
        }
        if request.param == "bucket-missing":
            values["bucket"], transient, codes = "no-such-bucket", False, ("http-404",)
        elif request.param == "secret-missing":
            values["credentials"], transient, codes = SecretRef(secret="GCS_KEY"), False, ("credentials",)
        elif request.param == "emulator-stopped":
            gcs.stop()
            transient, codes = True, ("connect-failed",)
        else:
            values["endpoint"], transient, codes = (
                f"http://127.0.0.1:{free_port()}",
                True,
                ("connect-failed",),
            )
        dest = resolve("gcs")(GCSDestinationConfig(**values), settings_factory())
        yield Refusal(dest, instance, transient, codes)
        dest.close()
        if gcs.process is not None:
            assert gcs.blobs() == []
