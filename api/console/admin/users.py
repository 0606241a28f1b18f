"""Users for superusers: create, change role, activate or deactivate (the accounts service audits)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from api.console.render import page
from api.console.session import ConsoleSuper, SuperPage
from api.deps import SessionDep
from axiom.admin import accounts
from axiom.db.repositories import auth as auth_repo
from axiom.domain.auth import Role, UserCreate, UserUpdate

router = APIRouter(include_in_schema=False)


def _page(request: Request, session: SessionDep, **extra: object) -> Response:
    context = {
        "items": auth_repo.list_users(session),
        "roles": [r.value for r in Role],
        "error": None,
        **extra,
    }
    return page(request, "admin/users.html", context)


@router.get("/admin/users")
def users(request: Request, _: SuperPage, session: SessionDep) -> Response:
    return _page(request, session)


@router.post("/admin/users/create")
def create(
    request: Request,
    principal: ConsoleSuper,
    session: SessionDep,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[str, Form(max_length=16)],
) -> Response:
    try:
        body = UserCreate.model_validate({"username": username, "password": password, "role": role})
    except ValidationError as exc:
        fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors()}))
        return _page(request, session, error=f"check {fields} (passwords need 8 characters or more)")
    accounts.create_user(session, body, actor=principal.actor)
    session.commit()
    return _page(request, session, message=f"user {username} created")


@router.post("/admin/users/update")
def update(
    request: Request,
    principal: ConsoleSuper,
    session: SessionDep,
    username: Annotated[str, Form(max_length=128)],
    role: Annotated[str, Form(max_length=16)],
    active: Annotated[str, Form(pattern="^(true|false)$")],
) -> Response:
    body = UserUpdate.model_validate({"role": role, "active": active == "true"})
    accounts.update_user(session, username, body, actor=principal.actor)
    session.commit()
    return _page(request, session, message=f"user {username} updated")
