"""STOW-RS through the real app and database: the PS3.18 answer, partial acceptance with the bad
part quarantined, and a 4xx (never a 500) for bodies that are not whole multipart/related."""

from __future__ import annotations

import random
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydicom import dcmread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from axiom.admin.accounts import create_api_key
from axiom.config import Settings
from axiom.db.models import ExceptionLog
from axiom.domain.auth import ApiKeyCreate, Role
from axiom.domain.messages import InstanceMessage
from tests.factories import make_dataset, write_instance, write_truncated
from tests.unit.api.conftest import Credentials

URL = "/api/v1/dicomweb/studies"


class RecordingPublisher:
    def __init__(self) -> None:
        self.messages: list[InstanceMessage] = []

    def publish_instance(self, message: InstanceMessage) -> None:
        self.messages.append(message)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def client(settings: Settings, publisher: RecordingPublisher) -> Iterator[TestClient]:
    with TestClient(create_app(settings, publisher=publisher)) as client:
        yield client


def multipart(parts: list[bytes], boundary: str | None = None, *, close: bool = True) -> tuple[bytes, str]:
    boundary = boundary or uuid.uuid4().hex
    body = b""
    for part in parts:
        body += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
    if close:
        body += f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


@pytest.fixture
def instances(tmp_path: Path) -> list[bytes]:
    study = "1.2.826.0.1.3680043.8.498.1"
    return [
        write_instance(
            make_dataset(study_uid=study, instance_number=i, variant=i), tmp_path / f"in{i}.dcm"
        ).read_bytes()
        for i in range(3)
    ]


def test_store_answers_referenced_sops_and_publishes_each(
    client: TestClient, creds: Credentials, publisher: RecordingPublisher, instances: list[bytes]
) -> None:
    body, ctype = multipart(instances)
    response = client.post(URL, content=body, headers={**creds.admin, "Content-Type": ctype})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/dicom+json")
    referenced = response.json()["00081199"]["Value"]
    uids = [item["00081155"]["Value"][0] for item in referenced]
    assert uids == [m.sop_instance_uid for m in publisher.messages]
    assert {m.source for m in publisher.messages} == {"stowrs"}
    assert all(m.correlation_id and Path(m.spool_path).exists() for m in publisher.messages)
    spooled = dcmread(publisher.messages[0].spool_path)
    assert spooled.SOPInstanceUID == uids[0]


def test_bad_part_is_quarantined_and_reported_good_parts_accepted(
    client: TestClient,
    creds: Credentials,
    publisher: RecordingPublisher,
    instances: list[bytes],
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    truncated = write_truncated(tmp_path / "in1.dcm", tmp_path / "cut.dcm", keep=0.6).read_bytes()
    body, ctype = multipart([instances[0], truncated, b"not dicom at all" * 20, instances[2]])
    response = client.post(
        URL, content=body, headers={**creds.admin, "Content-Type": ctype, "Accept": "application/dicom+xml"}
    )
    assert response.status_code == 202, response.text
    assert response.headers["content-type"].startswith("application/dicom+xml")
    root = ET.fromstring(response.text)
    ns = {"n": "http://dicom.nema.org/PS3.19/models/NativeDICOM"}
    failed = root.find("n:DicomAttribute[@keyword='FailedSOPSequence']", ns)
    assert failed is not None and len(failed.findall("n:Item", ns)) == 2
    reasons = [v.text for v in failed.iterfind(".//n:DicomAttribute[@tag='00081197']/n:Value", ns)]
    assert reasons == [str(0xC000), str(0xC000)]
    assert "part 2: dataset truncated" in response.headers["Warning"]
    assert len(publisher.messages) == 2
    with sessions() as session:
        rows = session.scalars(select(ExceptionLog).where(ExceptionLog.stage == "ingest")).all()
        assert len(rows) == 2 and all(Path(r.file_path or "").exists() for r in rows)
        assert all("stowrs" in r.message for r in rows)


def test_all_parts_failing_is_409(client: TestClient, creds: Credentials) -> None:
    body, ctype = multipart([b"garbage" * 50])
    response = client.post(URL, content=body, headers={**creds.admin, "Content-Type": ctype})
    assert response.status_code == 409
    assert response.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xC000]


def test_study_url_refuses_parts_of_another_study(
    client: TestClient, creds: Credentials, instances: list[bytes], publisher: RecordingPublisher
) -> None:
    body, ctype = multipart(instances[:1])
    response = client.post(f"{URL}/1.2.3.4", content=body, headers={**creds.admin, "Content-Type": ctype})
    assert response.status_code == 409
    assert response.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xC409]
    ok = client.post(
        f"{URL}/1.2.826.0.1.3680043.8.498.1", content=body, headers={**creds.admin, "Content-Type": ctype}
    )
    assert ok.status_code == 200 and len(publisher.messages) == 1


def test_truncated_body_is_400_and_stores_nothing(
    client: TestClient, creds: Credentials, instances: list[bytes], publisher: RecordingPublisher
) -> None:
    body, ctype = multipart(instances)
    for cut in (len(body) - 5, len(body) // 2, 10):
        response = client.post(URL, content=body[:cut], headers={**creds.admin, "Content-Type": ctype})
        assert response.status_code == 400, response.text
        assert "truncated" in response.json()["detail"] or "parse" in response.json()["detail"]
    assert publisher.messages == []


@pytest.mark.parametrize("seed", range(12))
def test_fuzzed_bodies_get_4xx_never_500(
    client: TestClient, creds: Credentials, instances: list[bytes], seed: int
) -> None:
    rng = random.Random(seed)
    body, ctype = multipart(instances[:2], boundary="fuzzboundary")
    data = bytearray(body)
    for _ in range(rng.randint(1, 40)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    if seed % 3 == 0:
        data = data[: rng.randrange(len(data))]
    if seed % 5 == 0:
        data = bytearray(rng.randbytes(rng.randint(0, 3000)))
    response = client.post(URL, content=bytes(data), headers={**creds.admin, "Content-Type": ctype})
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and response.status_code != 409:
        assert response.json()["detail"]


@pytest.mark.parametrize(
    ("ctype", "status"),
    [
        (None, 415),
        ("application/json", 415),
        ('multipart/related; type="application/dicom+json"; boundary=x', 415),
        ('multipart/related; type="application/dicom"', 400),
    ],
)
def test_bad_content_types(client: TestClient, creds: Credentials, ctype: str | None, status: int) -> None:
    headers = dict(creds.admin)
    if ctype:
        headers["Content-Type"] = ctype
    response = client.post(URL, content=b"--x--\r\n", headers=headers)
    assert response.status_code == status
    assert response.json()["detail"]


def test_stow_needs_admin(client: TestClient, creds: Credentials, instances: list[bytes]) -> None:
    body, ctype = multipart(instances[:1])
    assert client.post(URL, content=body, headers={"Content-Type": ctype}).status_code == 401
    assert client.post(URL, content=body, headers={**creds.user, "Content-Type": ctype}).status_code == 403


def test_an_ingest_key_stores_and_reads_nothing(
    client: TestClient, sessions: sessionmaker[Session], instances: list[bytes], publisher: RecordingPublisher
) -> None:
    with sessions() as session:
        key = create_api_key(
            session, ApiKeyCreate(name="modality", role=Role.INGEST), actor="test", creator_role=Role.ADMIN
        ).key
        session.commit()
    headers = {"X-API-Key": key}
    body, ctype = multipart(instances[:1])
    assert client.post(URL, content=body, headers={**headers, "Content-Type": ctype}).status_code == 200
    assert len(publisher.messages) == 1
    for path in ("/api/v1/monitoring/queues", "/api/v1/config/rulesets", "/api/v1/exceptions", "/metrics"):
        assert client.get(path, headers=headers).status_code == 403, path


def test_bodies_and_parts_over_their_limits_are_413_and_store_nothing(
    settings: Settings, creds: Credentials, instances: list[bytes], publisher: RecordingPublisher
) -> None:
    body, ctype = multipart(instances)
    largest = max(len(i) for i in instances)
    for limits in ({"stow_max_body_bytes": len(body) - 1}, {"max_instance_bytes": largest - 1}):
        with TestClient(create_app(settings.model_copy(update=limits), publisher=publisher)) as small:
            response = small.post(URL, content=body, headers={**creds.admin, "Content-Type": ctype})
            assert response.status_code == 413, limits
            assert "nothing was stored" in response.json()["detail"]
    assert publisher.messages == []
    assert list(settings.spool_dir.glob("*")) == []


def test_a_part_whose_dataset_holds_a_path_for_a_uid_is_refused(
    client: TestClient, creds: Credentials, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ds = make_dataset()
    ds.StudyInstanceUID = "1.2/../../destinations/x"
    part = write_instance(ds, tmp_path / "bad.dcm").read_bytes()
    body, ctype = multipart([part])
    response = client.post(URL, content=body, headers={**creds.admin, "Content-Type": ctype})
    assert response.status_code == 409
    failed = response.json()["00081198"]["Value"][0]
    assert failed["00081197"]["Value"] == [0xC000]
    with sessions() as session:
        row = session.scalars(select(ExceptionLog)).one()
    assert row.stage == "ingest" and "StudyInstanceUID is not a valid UID" in row.message


def test_thousands_of_parts_are_refused_whole(
    client: TestClient, creds: Credentials, publisher: RecordingPublisher
) -> None:
    body, ctype = multipart([b"x"] * 10_001)
    response = client.post(URL, content=body, headers={**creds.admin, "Content-Type": ctype})
    assert response.status_code == 413
    assert "more than 10000 parts" in response.json()["detail"]
    assert publisher.messages == []


def test_a_body_without_its_boundary_or_of_another_type_is_refused(
    client: TestClient, creds: Credentials, instances: list[bytes]
) -> None:
    body, _ctype = multipart(instances[:1])
    for bad in ("multipart/related; type=application/dicom", "application/dicom", "text/plain; boundary=x"):
        response = client.post(URL, content=body, headers={**creds.admin, "Content-Type": bad})
        assert response.status_code in (400, 415), bad
