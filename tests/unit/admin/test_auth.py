"""The credential helpers on their own: the login limiter's window, API key format and hashing,
and the JWT secret kept under the data dir."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from axiom.admin.auth import (
    generate_api_key,
    hash_api_key,
    hash_password,
    jwt_secret,
    verify_password,
)
from axiom.config import Settings


def test_api_key_is_random_and_stored_as_its_sha256() -> None:
    one, two = generate_api_key(), generate_api_key()
    assert one.key != two.key and one.prefix != two.prefix
    assert one.key.startswith(f"axk_{one.prefix}_") and len(one.key) > 50
    assert one.key_hash == hash_api_key(one.key) and len(one.key_hash) == 64 and one.key not in one.key_hash


def test_password_hash_is_argon2() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert verify_password(hashed, "correct horse") and not verify_password(hashed, "wrong")
    assert not verify_password("not a hash", "correct horse")


def test_jwt_secret_generated_once_with_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = jwt_secret(settings)
    assert len(first) >= 48
    assert stat.S_IMODE(os.stat(settings.jwt_secret_file).st_mode) == 0o600
    assert jwt_secret(Settings(data_dir=tmp_path / "data")) == first
    assert jwt_secret(Settings(data_dir=tmp_path / "other")) != first


def test_an_empty_or_short_jwt_secret_is_refused_at_start(tmp_path: Path) -> None:
    from api.main import create_app
    from axiom.admin.auth import WeakJwtSecret

    short = Settings(data_dir=tmp_path / "a", jwt_secret="too-short-secret")  # type: ignore[arg-type]
    with pytest.raises(WeakJwtSecret, match="AXIOM_JWT_SECRET is 16 bytes; it must be at least 32"):
        create_app(short)
    emptied = Settings(data_dir=tmp_path / "b")
    emptied.jwt_secret_file.parent.mkdir(parents=True)
    emptied.jwt_secret_file.write_text("\n")
    with pytest.raises(WeakJwtSecret, match="is empty"):
        jwt_secret(emptied)
    assert len(jwt_secret(Settings(data_dir=tmp_path / "c", jwt_secret="x" * 32))) == 32  # type: ignore[arg-type]
