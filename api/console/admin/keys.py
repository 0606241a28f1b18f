"""API keys for admins: create (the key is shown once), list without key material, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from api.console.render import page
from api.console.session import AdminPage, ConsoleAdmin
from api.deps import SessionDep
from axiom.admin import accounts
from axiom.db.repositories import auth as auth_repo
from axiom.domain.auth import ApiKeyCreate

router = APIRouter(include_in_schema=False)


def _page(request: Request, session: SessionDep, **extra: object) -> Response:
    context = {"items": auth_repo.list_api_keys(session), "new_key": None, "error": None, **extra}
    return page(request, "admin/api_keys.html", context)


@router.get("/admin/api-keys")
def keys(request: Request, _: AdminPage, session: SessionDep) -> Response:
    return _page(request, session)


@router.post("/admin/api-keys/create")
def create(
    request: Request,
    principal: ConsoleAdmin,
    session: SessionDep,
    name: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=16)],
) -> Response:
    try:
        body = ApiKeyCreate.model_validate({"name": name, "role": role})
    except ValidationError:
        return _page(request, session, error="a key name is letters, digits, '.', '_' or '-'; pick a role")
    owner = auth_repo.get_user(session, principal.user_id) if principal.user_id is not None else None
    created = accounts.create_api_key(
        session, body, actor=principal.actor, owner=owner, creator_role=principal.role
    )
    session.commit()
    return _page(request, session, new_key=created.key, new_name=name)


@router.post("/admin/api-keys/revoke")
def revoke(
    request: Request, principal: ConsoleAdmin, session: SessionDep, key_id: Annotated[int, Form(ge=1)]
) -> Response:
    accounts.revoke_api_key(session, key_id, actor=principal.actor, revoker_role=principal.role)
    session.commit()
    return _page(request, session)
