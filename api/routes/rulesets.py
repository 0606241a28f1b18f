"""/api/v1/config/rulesets: rulesets and their rules, read (users) and changed (admins), with the
version history every change stores, diffs between versions and rollback."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import AdminUser, CurrentUser, SessionDep
from api.routes.config_common import ChangeOut, JsonBody, schema_of
from axiom.admin import config_edit, ruleset_versions
from axiom.admin.config_dump import dump_rulesets
from axiom.db.repositories import config as config_repo
from rules.model import Rule, Ruleset

router = APIRouter(prefix="/api/v1/config/rulesets", tags=["config"])


@router.get("")
def list_rulesets(_: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    """Every ruleset (disabled ones too) with its rules, in evaluation order."""
    return dump_rulesets(session)


@router.get("/{name}")
def get_ruleset(name: str, _: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return config_repo.dump_model(config_edit.get_ruleset(session, name))


@router.put("/{name}", response_model=ChangeOut, openapi_extra=schema_of(Ruleset, "Ruleset"))
def put_ruleset(
    name: str, body: JsonBody, principal: AdminUser, session: SessionDep, response: Response
) -> ChangeOut:
    """Create (201) or replace (200) the whole ruleset, its rules included; stores a new version."""
    change = config_edit.put_ruleset(session, name, body, actor=principal.actor)
    session.commit()
    if change.created:
        response.status_code = 201
    return ChangeOut.of(change)


@router.delete("/{name}", response_model=ChangeOut)
def delete_ruleset(name: str, principal: AdminUser, session: SessionDep) -> ChangeOut:
    """Delete the ruleset; its versions stay, so a rollback re-creates it."""
    change = config_edit.delete_ruleset(session, name, actor=principal.actor)
    session.commit()
    return ChangeOut.of(change)


@router.get("/{name}/rules/{rule}")
def get_rule(name: str, rule: str, _: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return config_edit.get_rule(session, name, rule)


@router.put("/{name}/rules/{rule}", response_model=ChangeOut, openapi_extra=schema_of(Rule, "Rule"))
def put_rule(
    name: str, rule: str, body: JsonBody, principal: AdminUser, session: SessionDep, response: Response
) -> ChangeOut:
    """Replace the rule (200), or append it to the ruleset (201); stores a new ruleset version."""
    change = config_edit.put_rule(session, name, rule, body, actor=principal.actor)
    session.commit()
    if change.created:
        response.status_code = 201
    return ChangeOut.of(change)


@router.delete("/{name}/rules/{rule}", response_model=ChangeOut)
def delete_rule(name: str, rule: str, principal: AdminUser, session: SessionDep) -> ChangeOut:
    change = config_edit.delete_rule(session, name, rule, actor=principal.actor)
    session.commit()
    return ChangeOut.of(change)


class VersionOut(BaseModel):
    version: int
    actor: str
    action: str
    created_at: datetime
    content_hash: str
    restored_from: int | None


@router.get("/{name}/versions", response_model=list[VersionOut])
def versions(name: str, _: CurrentUser, session: SessionDep) -> list[VersionOut]:
    """Every stored version of the ruleset (also of a deleted one), oldest first; 404 when none."""
    found = ruleset_versions.history(session, name)
    if not found:
        raise config_edit.ConfigNotFound(f"ruleset {name!r} has no versions")
    return [VersionOut.model_validate(v, from_attributes=True) for v in found]


class DiffOut(BaseModel):
    name: str
    from_: int = Field(serialization_alias="from")
    to: int
    diff: str  # unified diff of the two versions' YAML; empty when they hold the same content


@router.get("/{name}/diff", response_model=DiffOut, response_model_by_alias=True)
def diff(
    name: str,
    _: CurrentUser,
    session: SessionDep,
    from_: Annotated[int, Query(alias="from", ge=1)],
    to: Annotated[int, Query(ge=1)],
) -> DiffOut:
    return DiffOut(name=name, from_=from_, to=to, diff=ruleset_versions.diff(session, name, from_, to))


class RollbackIn(BaseModel):
    version: int = Field(ge=1)


class RollbackOut(BaseModel):
    name: str
    restored: int
    version: int | None  # the new version recording the rollback; None when nothing changed
    config_version: int


@router.post("/{name}/rollback", response_model=RollbackOut)
def rollback(name: str, body: RollbackIn, principal: AdminUser, session: SessionDep) -> RollbackOut:
    """Make a stored version the current ruleset, as a new version (so the rollback can be undone)."""
    result = ruleset_versions.rollback(session, name, body.version, actor=principal.actor)
    session.commit()
    return RollbackOut(
        name=result.name,
        restored=result.restored,
        version=result.version,
        config_version=result.config_version,
    )
