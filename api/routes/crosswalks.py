"""/api/v1/config/crosswalks: read (users), create or replace, delete and sync (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import AdminUser, CurrentUser, SessionDep
from api.routes.config_common import ChangeOut, JsonBody, schema_of
from axiom.admin import config_edit
from axiom.admin.crosswalks import sync_crosswalk
from axiom.domain.crosswalks import CrosswalkConfig
from axiom.domain.masking import mask_secrets

router = APIRouter(prefix="/api/v1/config/crosswalks", tags=["config"])


@router.get("")
def list_crosswalks(_: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    """Each crosswalk's configuration (a SQL URL's password masked) and its sync status."""
    return [mask_secrets(item) for item in config_edit.crosswalk_status(session)]


@router.get("/{name}")
def get_crosswalk(name: str, _: CurrentUser, session: SessionDep) -> dict[str, Any]:
    (item,) = config_edit.crosswalk_status(session, name)
    return dict(mask_secrets(item))


@router.put("/{name}", response_model=ChangeOut, openapi_extra=schema_of(CrosswalkConfig, "CrosswalkConfig"))
def put_crosswalk(
    name: str, body: JsonBody, principal: AdminUser, session: SessionDep, request: Request, response: Response
) -> ChangeOut:
    """Create (201) or replace (200) the crosswalk; a relative CSV path is taken from the data dir.
    The entries are read by the next sync."""
    base_dir = request.app.state.settings.data_path
    change = config_edit.put_crosswalk(session, name, body, actor=principal.actor, base_dir=base_dir)
    session.commit()
    if change.created:
        response.status_code = 201
    return ChangeOut.of(change)


@router.delete("/{name}", response_model=ChangeOut)
def delete_crosswalk(name: str, principal: AdminUser, session: SessionDep) -> ChangeOut:
    """Delete the crosswalk and its entries; 409 while a rule looks values up in it."""
    change = config_edit.delete_crosswalk(session, name, actor=principal.actor)
    session.commit()
    return ChangeOut.of(change)


@router.post("/{name}/sync")
def sync(name: str, principal: AdminUser, request: Request) -> dict[str, Any]:
    """Read the source now and replace the entries when they changed (the error names no value)."""
    result = sync_crosswalk(request.app.state.sessions, name)
    with request.app.state.sessions() as session:
        config_edit.record_sync(
            session, name, actor=principal.actor, rows=result.rows, changed=result.changed, error=result.error
        )
        session.commit()
    return {
        "name": result.name,
        "ok": result.ok,
        "rows": result.rows,
        "changed": result.changed,
        "generation": result.generation,
        "error": result.error,
    }
