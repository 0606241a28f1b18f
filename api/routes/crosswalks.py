"""/api/v1/config/crosswalks: read (users), create or replace, delete and sync (admins); the entries a
page at a time (masked below admin, audited for admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel

from api.deps import AdminUser, CurrentUser, SessionDep
from api.routes.config_common import ChangeOut, JsonBody, schema_of
from axiom.admin import config_edit
from axiom.admin.crosswalk_entries import PrefixNotAllowed, entry_page
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


class EntryOut(BaseModel):
    key: str
    value: str


class EntryPageOut(BaseModel):
    name: str
    total: int
    limit: int
    offset: int
    masked: bool
    items: list[EntryOut]


@router.get("/{name}/entries", response_model=EntryPageOut)
def list_entries(
    name: str,
    principal: CurrentUser,
    session: SessionDep,
    prefix: Annotated[
        str, Query(max_length=256, description="keys that start with this (admin and above)")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> EntryPageOut:
    """The entries in key order. Keys and values may identify patients: below admin both are
    masked and a key search answers 403; an admin's read is audited as ``crosswalk.entries_read``."""
    try:
        found = entry_page(session, name, principal, prefix=prefix, limit=limit, offset=offset)
    except PrefixNotAllowed as exc:
        raise HTTPException(403, str(exc)) from None
    session.commit()
    return EntryPageOut(
        name=found.name,
        total=found.total,
        limit=found.limit,
        offset=found.offset,
        masked=found.masked,
        items=[EntryOut(key=e.key, value=e.value) for e in found.entries],
    )


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
