"""/api/v1/auth/users: user management, for superusers only."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel

from api.deps import SessionDep, SuperUser
from axiom.admin import accounts
from axiom.db.repositories import auth as auth_repo
from axiom.domain.auth import Role, UserCreate, UserUpdate

router = APIRouter(prefix="/api/v1/auth/users", tags=["auth"])


class UserOut(BaseModel):
    model_config = {"from_attributes": True}

    id: int
    username: str
    role: Role
    active: bool
    created_at: datetime


@router.get("", response_model=list[UserOut])
def list_users(_: SuperUser, session: SessionDep) -> list[UserOut]:
    return [UserOut.model_validate(row) for row in auth_repo.list_users(session)]


@router.post("", response_model=UserOut, status_code=201)
def create_user(body: UserCreate, principal: SuperUser, session: SessionDep) -> UserOut:
    user = accounts.create_user(session, body, actor=principal.actor)
    session.commit()
    return UserOut.model_validate(user)


@router.get("/{username}", response_model=UserOut)
def get_user(username: str, _: SuperUser, session: SessionDep) -> UserOut:
    return UserOut.model_validate(accounts.get_user(session, username))


@router.patch("/{username}", response_model=UserOut)
def update_user(username: str, body: UserUpdate, principal: SuperUser, session: SessionDep) -> UserOut:
    """Change the role, the active flag or the password; fields left out stay as they are."""
    user = accounts.update_user(session, username, body, actor=principal.actor)
    session.commit()
    return UserOut.model_validate(user)


@router.delete("/{username}", status_code=204)
def delete_user(username: str, principal: SuperUser, session: SessionDep) -> Response:
    accounts.delete_user(session, username, actor=principal.actor)
    session.commit()
    return Response(status_code=204)
