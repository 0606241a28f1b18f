"""/api/v1/config/destinations: read (users), create or replace and delete (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.deps import AdminUser, CurrentUser, SessionDep
from api.routes.config_common import ChangeOut, JsonBody, schema_of
from axiom.admin import config_edit
from axiom.admin.config_dump import dump_destinations
from axiom.admin.config_schema import destination_config_type
from axiom.domain.masking import mask_secrets

router = APIRouter(prefix="/api/v1/config/destinations", tags=["config"])


@router.get("")
def list_destinations(_: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    """Every destination in the file format ``axiom apply`` reads; credentials masked."""
    return [mask_secrets(item) for item in dump_destinations(session)]


@router.get("/{name}")
def get_destination(name: str, _: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return dict(mask_secrets(config_edit.get_destination(session, name)))


@router.put(
    "/{name}", response_model=ChangeOut, openapi_extra=schema_of(destination_config_type, "DestinationConfig")
)
def put_destination(
    name: str, body: JsonBody, principal: AdminUser, session: SessionDep, response: Response
) -> ChangeOut:
    """Create (201) or replace (200) the destination ``name``; the body's ``name`` may be left out."""
    change = config_edit.put_destination(session, name, body, actor=principal.actor)
    session.commit()
    if change.created:
        response.status_code = 201
    return ChangeOut.of(change)


@router.delete("/{name}", response_model=ChangeOut)
def delete_destination(name: str, principal: AdminUser, session: SessionDep) -> ChangeOut:
    """Delete the destination; 409 while a rule routes to it."""
    change = config_edit.delete_destination(session, name, actor=principal.actor)
    session.commit()
    return ChangeOut.of(change)
