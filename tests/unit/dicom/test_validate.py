from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.filereader import read_file_meta_info
from pydicom.uid import UID

from axiom.dicom.validate import InvalidDataset, check_encoded_dataset, check_uid, is_valid_uid, safe_uid
from tests.factories import Corpus


def _body(path: Path) -> tuple[bytes, UID, str]:
    meta = read_file_meta_info(path)
    data = path.read_bytes()
    start = 132 + 12 + int(meta.FileMetaInformationGroupLength)
    return data[start:], UID(meta.TransferSyntaxUID), str(meta.MediaStorageSOPClassUID)


def test_every_corpus_instance_passes(corpus_small: Corpus) -> None:
    for info in corpus_small:
        body, syntax, sop_class = _body(info.path)
        check_encoded_dataset(body, syntax, sop_class)


def test_truncated_dataset_is_refused_with_cannot_understand(corpus_small: Corpus) -> None:
    for info in list(corpus_small)[:12]:
        body, syntax, sop_class = _body(info.path)
        with pytest.raises(InvalidDataset, match=r"truncated|does not parse") as caught:
            check_encoded_dataset(body[: len(body) * 2 // 3], syntax, sop_class)
        assert caught.value.status == 0xC000


@pytest.mark.parametrize("payload", [b"", b"\x01\x02\x03", bytes(range(256)) * 20])
def test_garbage_is_refused(payload: bytes) -> None:
    with pytest.raises(InvalidDataset):
        check_encoded_dataset(payload, UID("1.2.840.10008.1.2.1"), "1.2.840.10008.5.1.4.1.1.2")


def test_sop_class_differing_from_the_request_is_refused(corpus_small: Corpus) -> None:
    body, syntax, _ = _body(corpus_small.instances[0].path)
    with pytest.raises(InvalidDataset) as caught:
        check_encoded_dataset(body, syntax, "1.2.840.10008.5.1.4.1.1.7")
    assert caught.value.status == 0xA900


@pytest.mark.parametrize(
    "uid", ["../destinations/x", "1.2.03", "1..2", ".1.2", "1.2.", "1.2.a", "1/2", "1." + "2" * 63, ""]
)
def test_uid_grammar_refuses_what_is_not_digits_and_dots(uid: str) -> None:
    assert not is_valid_uid(uid)
    with pytest.raises(InvalidDataset):
        check_uid(uid, "the UID")
    assert safe_uid(uid).startswith("invalid-uid-") and "/" not in safe_uid(uid)


@pytest.mark.parametrize("uid", ["0", "1.2.840.10008.1.2.1", "1.0.2", "1." + "2" * 62])
def test_uid_grammar_takes_valid_uids(uid: str) -> None:
    assert is_valid_uid(uid) and safe_uid(uid) == uid
