"""Users and API keys. Rows hold hashes only: an argon2 hash of a password, the sha256 of a key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from axiom.db.models import ApiKey, User
from axiom.domain.auth import Role


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_username(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).one_or_none()


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def add_user(session: Session, *, username: str, password_hash: str, role: Role, active: bool = True) -> User:
    row = User(username=username, password_hash=password_hash, role=role, active=active)
    session.add(row)
    session.flush()
    return row


def count_active_superusers(session: Session) -> int:
    stmt = select(func.count()).select_from(User).where(User.role == Role.SUPERUSER, User.active.is_(True))
    return int(session.scalar(stmt) or 0)


def add_api_key(
    session: Session, *, name: str, prefix: str, key_hash: str, role: Role, user_id: int | None
) -> ApiKey:
    row = ApiKey(name=name, prefix=prefix, key_hash=key_hash, role=role, user_id=user_id)
    session.add(row)
    session.flush()
    return row


def get_api_key(session: Session, key_id: int) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def get_api_key_by_prefix(session: Session, prefix: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()


def list_api_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(stmt))


def mark_api_key_used(row: ApiKey, now: datetime) -> None:
    row.last_used_at = now


__all__ = [
    "add_api_key",
    "add_user",
    "count_active_superusers",
    "get_api_key",
    "get_api_key_by_prefix",
    "get_user",
    "get_user_by_username",
    "list_api_keys",
    "list_users",
    "mark_api_key_used",
]
