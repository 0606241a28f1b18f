"""/api/v1/config/sources: read (users), create or replace and delete (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.deps import AdminUser, CurrentUser, SessionDep
from api.routes.config_common import ChangeOut, JsonBody, schema_of
from axiom.admin import config_edit
from axiom.admin.config_dump import dump_sources
from axiom.admin.config_schema import source_config_type
from axiom.domain.masking import mask_secrets

router = APIRouter(prefix="/api/v1/config/sources", tags=["config"])


@router.get("")
def list_sources(_: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    """Every source in the file format ``axiom apply`` reads; credentials masked."""
    return [mask_secrets(item) for item in dump_sources(session)]


@router.get("/{name}")
def get_source(name: str, _: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return dict(mask_secrets(config_edit.get_source(session, name)))


@router.put("/{name}", response_model=ChangeOut, openapi_extra=schema_of(source_config_type, "SourceConfig"))
def put_source(
    name: str, body: JsonBody, principal: AdminUser, session: SessionDep, response: Response
) -> ChangeOut:
    """Create (201) or replace (200) the source ``name``; Beat picks the change up without a restart."""
    change = config_edit.put_source(session, name, body, actor=principal.actor)
    session.commit()
    if change.created:
        response.status_code = 201
    return ChangeOut.of(change)


@router.delete("/{name}", response_model=ChangeOut)
def delete_source(name: str, principal: AdminUser, session: SessionDep) -> ChangeOut:
    """Delete the source (its pulled-instance ledger stays)."""
    change = config_edit.delete_source(session, name, actor=principal.actor)
    session.commit()
    return ChangeOut.of(change)
