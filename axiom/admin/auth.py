"""Credentials: password hashes (argon2), API keys (shown once, stored as sha256), access tokens
(JWT, HS256). The limits on failed logins are in axiom.admin.login_limits.

Nothing here logs or returns a password or a key; audit rows name the user or the key's name.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from axiom.admin.login_limits import LoginRateLimiter
from axiom.config import Settings
from axiom.db.base import utcnow
from axiom.db.models import ApiKey, User
from axiom.db.repositories import audit as audit_repo
from axiom.db.repositories import auth as auth_repo
from axiom.domain.auth import Principal, Role

JWT_ALGORITHM = "HS256"
API_KEY_PREFIX = "axk"
_HASHER = PasswordHasher()
# Verified against when the username is unknown, so a login takes as long either way.
_DUMMY_HASH = _HASHER.hash("not a real password")


# ---------------------------------------------------------------- passwords


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate_password(session: Session, username: str, password: str) -> User | None:
    """The active user with this username and password; None otherwise (in about the same time)."""
    user = auth_repo.get_user_by_username(session, username)
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(user.password_hash, password) or not user.active:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


# ---------------------------------------------------------------- API keys


@dataclass(frozen=True)
class NewApiKey:
    key: str  # shown once, never stored
    prefix: str
    key_hash: str


def generate_api_key() -> NewApiKey:
    """``axk_<prefix>_<secret>``: the prefix finds the row, the whole key's sha256 is compared."""
    prefix = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(key=key, prefix=prefix, key_hash=hash_api_key(key))


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def authenticate_api_key(session: Session, key: str, *, now: datetime | None = None) -> Principal | None:
    """The principal of a valid, unrevoked key (stamping its last use; the caller commits)."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    row = auth_repo.get_api_key_by_prefix(session, parts[1])
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, hash_api_key(key)):
        return None
    role = _key_role(row)
    if role is None:
        return None
    auth_repo.mark_api_key_used(row, now or utcnow())
    return Principal(kind="api_key", name=row.name, role=role, user_id=row.user_id, api_key_id=row.id)


def _key_role(row: ApiKey) -> Role | None:
    """The key's role, capped by its owner's current role; None when the owner is inactive."""
    if row.user is None:
        return row.role
    if not row.user.active:
        return None
    return row.role if row.user.role.allows(row.role) else row.user.role


# ---------------------------------------------------------------- access tokens


# HS256 keys shorter than the hash (32 bytes) are guessable offline from one token (RFC 7518 3.2).
MIN_JWT_SECRET_BYTES = 32


class WeakJwtSecret(RuntimeError):
    """The configured or stored JWT secret is empty or shorter than MIN_JWT_SECRET_BYTES."""


def jwt_secret(settings: Settings) -> str:
    """``AXIOM_JWT_SECRET``, or the secret kept under the data dir (generated on first use, 0600).

    WeakJwtSecret when the one found is shorter than 32 bytes: the API refuses to start with it.
    """
    configured = settings.jwt_secret.get_secret_value()
    if configured:
        return _strong(configured, "AXIOM_JWT_SECRET")
    return _strong(_stored_secret(settings.jwt_secret_file), str(settings.jwt_secret_file))


def _strong(secret: str, where: str) -> str:
    size = len(secret.encode())
    if size < MIN_JWT_SECRET_BYTES:
        raise WeakJwtSecret(
            f"the JWT secret in {where} is {'empty' if not size else f'{size} bytes'}; it must be at "
            f"least {MIN_JWT_SECRET_BYTES} bytes (e.g. `openssl rand -base64 48`), or unset "
            f"AXIOM_JWT_SECRET and delete the file to have one generated"
        )
    return secret


def _stored_secret(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first: use theirs
        return _wait_for_secret(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret)
        handle.flush()
        os.fsync(handle.fileno())
    return secret


def _wait_for_secret(path: Path) -> str:
    for _ in range(50):
        secret = path.read_text(encoding="ascii").strip()
        if secret:
            return secret
        time.sleep(0.02)
    raise RuntimeError(f"{path} stays empty; delete it or set AXIOM_JWT_SECRET")


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int  # seconds


def create_access_token(
    secret: str, user: User, *, expire_minutes: float, now: datetime | None = None
) -> AccessToken:
    issued = now or datetime.now(UTC)
    lifetime = timedelta(minutes=expire_minutes)
    claims = {"sub": user.username, "uid": user.id, "iat": issued, "exp": issued + lifetime}
    return AccessToken(jwt.encode(claims, secret, algorithm=JWT_ALGORITHM), int(lifetime.total_seconds()))


def authenticate_token(session: Session, secret: str, token: str) -> Principal | None:
    """The principal of a valid, unexpired token whose user still exists and is active. The role is
    read from the database, so a changed role or a deactivation applies at once."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub", "uid"]}
        )
    except jwt.PyJWTError:
        return None
    uid = claims.get("uid")
    user = auth_repo.get_user(session, uid) if isinstance(uid, int) else None
    if user is None or not user.active or user.username != claims.get("sub"):
        return None
    return Principal(kind="user", name=user.username, role=user.role, user_id=user.id)


# ---------------------------------------------------------------- logins


@dataclass(frozen=True)
class LoginResult:
    user: User | None

    @property
    def ok(self) -> bool:
        return self.user is not None


def login(session: Session, username: str, password: str, *, client: str) -> LoginResult:
    """Check a password and write the audit row of the attempt (never the password). Commits."""
    user = authenticate_password(session, username, password)
    audit_repo.add_audit(
        session,
        actor=username if user is not None else "anonymous",
        action="auth.login" if user is not None else "auth.login_failed",
        target=f"user:{username}"[:256],
        details={"client": client},
    )
    session.commit()
    return LoginResult(user)


__all__ = [
    "API_KEY_PREFIX",
    "AccessToken",
    "LoginRateLimiter",
    "LoginResult",
    "NewApiKey",
    "WeakJwtSecret",
    "authenticate_api_key",
    "authenticate_password",
    "authenticate_token",
    "create_access_token",
    "generate_api_key",
    "hash_api_key",
    "hash_password",
    "jwt_secret",
    "login",
    "verify_password",
]
