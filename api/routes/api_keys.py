"""/api/v1/auth/api-keys: create (the key is shown once), list (no key material), revoke. Admins."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response

from api.deps import AdminUser, SessionDep
from axiom.admin import accounts
from axiom.db.models import ApiKey
from axiom.db.repositories import auth as auth_repo
from axiom.domain.auth import ApiKeyCreate

router = APIRouter(prefix="/api/v1/auth/api-keys", tags=["auth"])


class ApiKeyOut(ApiKeyCreate):
    id: int
    owner: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewApiKeyOut(ApiKeyOut):
    key: str  # shown this once


def _out(row: ApiKey) -> dict[str, object]:
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "owner": row.user.username if row.user is not None else None,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "revoked_at": row.revoked_at,
    }


@router.post("", response_model=NewApiKeyOut, status_code=201)
def create_key(body: ApiKeyCreate, principal: AdminUser, session: SessionDep) -> NewApiKeyOut:
    """A new key with ``role`` (at most the caller's), owned by the calling user if any. The
    response holds the key; it cannot be read again."""
    owner = auth_repo.get_user(session, principal.user_id) if principal.user_id is not None else None
    created = accounts.create_api_key(
        session, body, actor=principal.actor, owner=owner, creator_role=principal.role
    )
    session.commit()
    return NewApiKeyOut.model_validate({**_out(created.row), "key": created.key})


@router.get("", response_model=list[ApiKeyOut])
def list_keys(_: AdminUser, session: SessionDep) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(_out(row)) for row in auth_repo.list_api_keys(session)]


@router.delete("/{key_id}", status_code=204)
def revoke_key(key_id: int, principal: AdminUser, session: SessionDep) -> Response:
    accounts.revoke_api_key(session, key_id, actor=principal.actor, revoker_role=principal.role)
    session.commit()
    return Response(status_code=204)
