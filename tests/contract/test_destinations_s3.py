"""The destination contract for ``s3``: the real boto3 client against moto's S3 server (one server
for the module, a fresh bucket per test), read back through the server's own API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from axiom.config import Settings
from axiom.destinations import Destination, resolve
from axiom.destinations.s3 import S3DestinationConfig, sha256_base64
from axiom.domain.secrets import SecretRef
from tests.contract.destination_contract import DestinationContract, Refusal
from tests.factories import Corpus, make_dataset, outgoing_instance, write_instance
from tests.support.dcmtk import free_port
from tests.support.moto_s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoS3, require_moto

SECRETS = {"S3_KEY_ID": ACCESS_KEY_ID, "S3_SECRET": SECRET_ACCESS_KEY}


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    require_moto()
    with MotoS3() as server:
        yield server


def s3_settings(factory: Callable[..., Settings], tmp_path: Path, secrets: dict[str, str]) -> Settings:
    path = tmp_path / "secrets.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in secrets.items()) or "{}\n")
    return factory(secrets_file=path)


def s3_config(moto: MotoS3, bucket: str, **overrides: Any) -> S3DestinationConfig:
    values: dict[str, Any] = {
        "name": "s3",
        "bucket": bucket,
        "endpoint_url": moto.url,
        "region": REGION,
        "addressing_style": "path",
        "access_key_id": SecretRef(secret="S3_KEY_ID"),
        "secret_access_key": SecretRef(secret="S3_SECRET"),
        "timeout_seconds": 5,
        **overrides,
    }
    return S3DestinationConfig(**values)


class TestS3Contract(DestinationContract):
    kind = "s3"

    @pytest.fixture
    def destination(
        self, moto: MotoS3, settings_factory: Callable[..., Settings], tmp_path: Path
    ) -> Iterator[Destination]:
        self.moto, self.bucket = moto, moto.new_bucket()
        dest = resolve("s3")(s3_config(moto, self.bucket), s3_settings(settings_factory, tmp_path, SECRETS))
        yield dest
        dest.close()

    def _read(self, sop_instance_uid: str) -> Any:
        # The default template ends with the SOP Instance UID: one GET, not the whole bucket.
        (key,) = [k for k in self.moto.keys(self.bucket) if k.endswith(f"/{sop_instance_uid}.dcm")]
        body = self.moto.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return dcmread(BytesIO(body))

    def stored_uids(self) -> list[str]:
        return sorted(
            str(dcmread(BytesIO(body)).SOPInstanceUID) for body in self.moto.objects(self.bucket).values()
        )

    def stored_tag(self, sop_instance_uid: str, keyword: str) -> str:
        return str(self._read(sop_instance_uid).get(keyword))

    def stored_transfer_syntax(self, sop_instance_uid: str) -> str:
        return str(self._read(sop_instance_uid).file_meta.TransferSyntaxUID)

    def test_unchanged_instance_is_a_byte_copy_with_its_checksum(
        self, destination: Destination, corpus_small: Corpus
    ) -> None:
        info = corpus_small.instances[3]
        where = destination.send(outgoing_instance(info.path))

        key = f"{info.study_instance_uid}/{info.series_instance_uid}/{info.sop_instance_uid}.dcm"
        assert where == f"s3://{self.bucket}/{key}"
        data = info.path.read_bytes()
        assert self.moto.objects(self.bucket) == {key: data}
        head = self.moto.client().head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        assert head["ContentType"] == "application/dicom"
        assert head["ChecksumSHA256"] == sha256_base64(data)

    def test_large_instance_goes_multipart_with_sse_kms(
        self, moto: MotoS3, settings_factory: Callable[..., Settings], tmp_path: Path
    ) -> None:
        bucket = moto.new_bucket()
        config = s3_config(
            moto,
            bucket,
            multipart_threshold_mb=5,
            multipart_chunk_mb=5,
            server_side_encryption="aws:kms",
            kms_key_id="alias/axiom-test",
            object_template="{PatientID}/{SOPInstanceUID}.dcm",
        )
        ds = make_dataset(rows=1800, columns=1800)  # ~6.5 MB of pixels: two parts
        ds.PatientID = "../../etc/pass wd"
        path = write_instance(ds, tmp_path / "large.dcm")
        dest = resolve("s3")(config, s3_settings(settings_factory, tmp_path, SECRETS))

        where = dest.send(outgoing_instance(path))
        dest.close()

        (key,) = moto.objects(bucket)
        assert key.startswith("_._.._etc_pass_wd/") and where == f"s3://{bucket}/{key}"
        assert moto.objects(bucket)[key] == path.read_bytes()
        head = moto.client().head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        assert head["ETag"].strip('"').endswith("-2")  # a multipart upload of two parts
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"].endswith("alias/axiom-test")

    def test_check_answers_with_the_configured_credentials(
        self,
        destination: Destination,
        moto: MotoS3,
        settings_factory: Callable[..., Settings],
        tmp_path: Path,
    ) -> None:
        assert destination.check().ok
        missing = resolve("s3")(
            s3_config(moto, "no-such-bucket"), s3_settings(settings_factory, tmp_path, SECRETS)
        )
        outcome = missing.check()
        assert not outcome.ok and "404" in outcome.message

    @pytest.fixture(params=["bucket-missing", "secret-missing", "nothing-listening"])
    def refusal(
        self,
        request: pytest.FixtureRequest,
        moto: MotoS3,
        corpus_small: Corpus,
        settings_factory: Callable[..., Settings],
        tmp_path: Path,
    ) -> Iterator[Refusal]:
        instance = outgoing_instance(corpus_small.instances[0].path)
        bucket = kept = moto.new_bucket()
        secrets: dict[str, str] = SECRETS
        overrides: dict[str, Any] = {}
        if request.param == "bucket-missing":
            bucket, transient, codes = "no-such-bucket", False, ("http-404",)
        elif request.param == "secret-missing":
            secrets, transient, codes = {}, False, ("credentials",)
        else:
            overrides = {"endpoint_url": f"http://127.0.0.1:{free_port()}"}
            transient, codes = True, ("connect-failed",)
        config = s3_config(moto, bucket, **overrides)
        dest = resolve("s3")(config, s3_settings(settings_factory, tmp_path, secrets))
        yield Refusal(dest, instance, transient, codes)
        dest.close()
        assert moto.objects(kept) == {}
