"""/api/v1/anonymize/reidentify: who a pseudonym stands for; admins only, always audited."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from api.deps import AdminUser, SessionDep
from axiom.pipeline.pseudonyms import Identity, ReidentifyRefused, reidentify

router = APIRouter(prefix="/api/v1/anonymize", tags=["anonymize"])


class ReidentifyIn(BaseModel):
    pseudonym: str = Field(min_length=1, max_length=64)
    # Kept in the audit row with the caller's name: why this person needed the identity.
    reason: str = Field(min_length=1, max_length=500)


@router.post("/reidentify", response_model=list[Identity])
def reidentify_route(body: ReidentifyIn, principal: AdminUser, session: SessionDep) -> list[Identity]:
    """The original PatientID/PatientName behind a pseudonym (an empty list when unknown). The call
    writes an audit row (actor, pseudonym, reason) whether or not it finds anyone."""
    try:
        return reidentify(session, body.pseudonym, actor=principal.actor, reason=body.reason)
    except ReidentifyRefused as exc:
        raise HTTPException(422, str(exc)) from None
