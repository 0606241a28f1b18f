"""Managing users and API keys, each change with an audit row naming who made it (never a password
or a key). The caller commits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from axiom.admin.auth import generate_api_key, hash_password
from axiom.db.base import utcnow
from axiom.db.models import ApiKey, User
from axiom.db.repositories import audit as audit_repo
from axiom.db.repositories import auth as auth_repo
from axiom.domain.auth import ApiKeyCreate, Role, UserCreate, UserUpdate


class AccountError(ValueError):
    """A change that cannot be made; ``status`` is the HTTP status it maps to."""

    status = 409


class NotFound(AccountError):
    status = 404


class Forbidden(AccountError):
    status = 403


def create_user(session: Session, data: UserCreate, *, actor: str) -> User:
    if auth_repo.get_user_by_username(session, data.username) is not None:
        raise AccountError(f"user {data.username!r} exists already")
    user = auth_repo.add_user(
        session,
        username=data.username,
        password_hash=hash_password(data.password),
        role=data.role,
        active=data.active,
    )
    audit_repo.add_audit(
        session,
        actor=actor,
        action="user.created",
        target=f"user:{user.username}",
        details={"role": user.role.value, "active": user.active},
    )
    return user


def get_user(session: Session, username: str) -> User:
    user = auth_repo.get_user_by_username(session, username)
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def update_user(session: Session, username: str, data: UserUpdate, *, actor: str) -> User:
    user = get_user(session, username)
    changed: list[str] = []
    if data.role is not None and data.role != user.role:
        _keep_a_superuser(session, user, role=data.role, active=user.active)
        user.role = data.role
        changed.append("role")
    if data.active is not None and data.active != user.active:
        _keep_a_superuser(session, user, role=user.role, active=data.active)
        user.active = data.active
        changed.append("active")
    if data.password is not None:
        user.password_hash = hash_password(data.password)
        changed.append("password")  # that it changed, never what to
    if changed:
        audit_repo.add_audit(
            session,
            actor=actor,
            action="user.updated",
            target=f"user:{user.username}",
            details={"changed": changed, "role": user.role.value, "active": user.active},
        )
    return user


def delete_user(session: Session, username: str, *, actor: str) -> None:
    user = get_user(session, username)
    _keep_a_superuser(session, user, role=Role.USER, active=False)
    session.delete(user)
    audit_repo.add_audit(session, actor=actor, action="user.deleted", target=f"user:{username}")


def _keep_a_superuser(session: Session, user: User, *, role: Role, active: bool) -> None:
    """Refuse the change that would leave no active superuser (nobody could manage users then)."""
    was = user.role == Role.SUPERUSER and user.active
    stays = role == Role.SUPERUSER and active
    if was and not stays and auth_repo.count_active_superusers(session) <= 1:
        raise AccountError(f"user {user.username!r} is the last active superuser")


@dataclass(frozen=True)
class CreatedKey:
    row: ApiKey
    key: str  # the only time the key is known


def create_api_key(
    session: Session, data: ApiKeyCreate, *, actor: str, owner: User | None = None, creator_role: Role
) -> CreatedKey:
    """A new key for ``data.role``, which may not exceed the creator's role."""
    if not creator_role.allows(data.role):
        raise Forbidden(f"a {creator_role.value} cannot create a key with the role {data.role.value}")
    new = generate_api_key()
    row = auth_repo.add_api_key(
        session,
        name=data.name,
        prefix=new.prefix,
        key_hash=new.key_hash,
        role=data.role,
        user_id=owner.id if owner is not None else None,
    )
    audit_repo.add_audit(
        session,
        actor=actor,
        action="api_key.created",
        target=f"api_key:{row.id}",
        details={"name": row.name, "role": row.role.value},
    )
    return CreatedKey(row, new.key)


def revoke_api_key(session: Session, key_id: int, *, actor: str, revoker_role: Role) -> ApiKey:
    """Revoke a key (a no-op when it is already); a key above the revoker's role is refused."""
    row = auth_repo.get_api_key(session, key_id)
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    if not revoker_role.allows(row.role):
        raise Forbidden(f"a {revoker_role.value} cannot revoke a key with the role {row.role.value}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit_repo.add_audit(
            session,
            actor=actor,
            action="api_key.revoked",
            target=f"api_key:{row.id}",
            details={"name": row.name, "role": row.role.value},
        )
    return row


__all__ = [
    "AccountError",
    "CreatedKey",
    "Forbidden",
    "NotFound",
    "create_api_key",
    "create_user",
    "delete_user",
    "get_user",
    "revoke_api_key",
    "update_user",
]
