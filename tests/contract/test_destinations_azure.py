"""The destination contract for ``azure-blob``: the real azure-storage-blob client against Azurite
(one emulator for the module, a fresh container per test), read back through the emulator."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from axiom.config import Settings
from axiom.destinations import Destination, resolve
from axiom.destinations.azure_blob import AzureBlobDestinationConfig, md5_digest
from axiom.domain.secrets import SecretRef
from tests.contract.destination_contract import DestinationContract, Refusal
from tests.factories import Corpus, make_dataset, outgoing_instance, write_instance
from tests.support.azurite import ACCOUNT, ACCOUNT_KEY, Azurite, require_azurite
from tests.support.dcmtk import free_port


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    require_azurite()
    with Azurite(tmp_path_factory.mktemp("azurite")) as emulator:
        yield emulator


def azure_settings(factory: Callable[..., Settings], tmp_path: Path, secrets: dict[str, str]) -> Settings:
    path = tmp_path / "secrets.yaml"
    path.write_text("".join(f'{k}: "{v}"\n' for k, v in secrets.items()) or "{}\n")
    return factory(secrets_file=path)


def new_container(azurite: Azurite) -> str:
    name = f"axiom-{uuid.uuid4().hex[:12]}"
    azurite.create_container(name)
    return name


def key_config(azurite: Azurite, container: str, **overrides: Any) -> AzureBlobDestinationConfig:
    values: dict[str, Any] = {
        "name": "azure",
        "container": container,
        "account_url": azurite.account_url,
        "account_name": ACCOUNT,
        "account_key": SecretRef(secret="AZURE_KEY"),
        "timeout_seconds": 5,
        **overrides,
    }
    return AzureBlobDestinationConfig(**values)


class TestAzureBlobContract(DestinationContract):
    kind = "azure-blob"

    @pytest.fixture
    def destination(
        self, azurite: Azurite, settings_factory: Callable[..., Settings], tmp_path: Path
    ) -> Iterator[Destination]:
        self.azurite, self.container = azurite, new_container(azurite)
        settings = azure_settings(settings_factory, tmp_path, {"AZURE_KEY": ACCOUNT_KEY})
        dest = resolve("azure-blob")(key_config(azurite, self.container), settings)
        yield dest
        dest.close()

    def _read(self, sop_instance_uid: str) -> Any:
        client = self.azurite.service().get_container_client(self.container)
        (name,) = [b.name for b in client.list_blobs() if b.name.endswith(f"/{sop_instance_uid}.dcm")]
        return dcmread(BytesIO(client.download_blob(name).readall()))

    def stored_uids(self) -> list[str]:
        blobs = self.azurite.blobs(self.container).values()
        return sorted(str(dcmread(BytesIO(body)).SOPInstanceUID) for body in blobs)

    def stored_tag(self, sop_instance_uid: str, keyword: str) -> str:
        return str(self._read(sop_instance_uid).get(keyword))

    def stored_transfer_syntax(self, sop_instance_uid: str) -> str:
        return str(self._read(sop_instance_uid).file_meta.TransferSyntaxUID)

    def test_unchanged_instance_is_a_byte_copy_with_its_md5(
        self, destination: Destination, corpus_small: Corpus
    ) -> None:
        info = corpus_small.instances[3]
        where = destination.send(outgoing_instance(info.path))

        name = f"{info.study_instance_uid}/{info.series_instance_uid}/{info.sop_instance_uid}.dcm"
        assert where == f"azure-blob:{self.container}/{name}"
        data = info.path.read_bytes()
        assert self.azurite.blobs(self.container) == {name: data}
        blob = self.azurite.service().get_blob_client(self.container, name).get_blob_properties()
        assert blob.content_settings.content_type == "application/dicom"
        assert bytes(blob.content_settings.content_md5) == md5_digest(data)

    @pytest.mark.parametrize("way_in", ["sas_token", "connection_string"])
    def test_sas_and_connection_string_in_blocks(
        self, way_in: str, azurite: Azurite, settings_factory: Callable[..., Settings], tmp_path: Path
    ) -> None:
        container = new_container(azurite)
        ds = make_dataset(rows=1100, columns=1100)  # ~2.4 MB: three 1 MiB blocks
        ds.PatientID = "../../etc/pass wd"
        path = write_instance(ds, tmp_path / "large.dcm")
        secret = azurite.container_sas(container) if way_in == "sas_token" else azurite.connection_string
        config = AzureBlobDestinationConfig.model_validate(
            {
                "name": "azure",
                "container": container,
                way_in: {"secret": "AZURE_WAY_IN"},
                **({"account_url": azurite.account_url} if way_in == "sas_token" else {}),
                "object_template": "{PatientID}/{SOPInstanceUID}.dcm",
                "max_single_put_mb": 1,
                "block_mb": 1,
            }
        )
        dest = resolve("azure-blob")(
            config, azure_settings(settings_factory, tmp_path, {"AZURE_WAY_IN": secret})
        )

        dest.send(outgoing_instance(path))
        assert dest.check().ok
        dest.close()

        ((name, body),) = azurite.blobs(container).items()
        assert name.startswith("_._.._etc_pass_wd/") and body == path.read_bytes()
        blocks = azurite.service().get_blob_client(container, name).get_block_list()[0]
        assert len(blocks) == 3

    @pytest.fixture(params=["container-missing", "wrong-key", "secret-missing", "nothing-listening"])
    def refusal(
        self,
        request: pytest.FixtureRequest,
        azurite: Azurite,
        corpus_small: Corpus,
        settings_factory: Callable[..., Settings],
        tmp_path: Path,
    ) -> Iterator[Refusal]:
        instance = outgoing_instance(corpus_small.instances[0].path)
        container = kept = new_container(azurite)
        secrets: dict[str, str] = {"AZURE_KEY": ACCOUNT_KEY}
        overrides: dict[str, Any] = {}
        if request.param == "container-missing":
            container, transient, codes = "no-such-container", False, ("http-404",)
        elif request.param == "wrong-key":
            secrets, transient, codes = {"AZURE_KEY": "bm90LXRoZS1rZXk="}, False, ("http-403",)
        elif request.param == "secret-missing":
            secrets, transient, codes = {}, False, ("credentials",)
        else:
            overrides = {"account_url": f"http://127.0.0.1:{free_port()}/{ACCOUNT}"}
            transient, codes = True, ("connect-failed",)
        config = key_config(azurite, container, **overrides)
        dest = resolve("azure-blob")(config, azure_settings(settings_factory, tmp_path, secrets))
        yield Refusal(dest, instance, transient, codes)
        dest.close()
        assert azurite.blobs(kept) == {}
