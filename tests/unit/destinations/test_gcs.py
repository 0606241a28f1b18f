"""The GCS digest check on its own; the destination is tested through the real client against an
emulator in tests/contract/test_destinations.py."""

from __future__ import annotations

from axiom.destinations.gcs import crc32c_base64, digest_problem, md5_base64

DATA = b"DICM" * 100
MD5, CRC = md5_base64(DATA), crc32c_base64(DATA)
OTHER_MD5, OTHER_CRC = md5_base64(b"other"), crc32c_base64(b"other")


def test_matching_digests_pass() -> None:
    assert digest_problem(MD5, CRC, md5=MD5, crc32c=CRC) is None
    # Composite objects have no MD5; the CRC32C alone suffices.
    assert digest_problem(None, CRC, md5=MD5, crc32c=CRC) is None


def test_a_differing_digest_is_a_transient_mismatch() -> None:
    for reported in ((OTHER_MD5, CRC), (MD5, OTHER_CRC), (None, OTHER_CRC), (OTHER_MD5, None)):
        problem = digest_problem(*reported, md5=MD5, crc32c=CRC)
        assert problem is not None and problem[1:] == (True, "checksum-mismatch"), reported


def test_no_reported_digest_is_permanent() -> None:
    assert digest_problem(None, None, md5=MD5, crc32c=CRC) == (
        "the service reported no digest for the object",
        False,
        "checksum-missing",
    )


def test_known_digests() -> None:
    # RFC 1321 and the Castagnoli CRC of the empty string, base64 as Cloud Storage writes them.
    assert md5_base64(b"") == "1B2M2Y8AsgTpgAmY7PhCfg=="
    assert crc32c_base64(b"") == "AAAAAA=="
