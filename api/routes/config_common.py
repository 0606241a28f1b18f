"""What the config routes share: the request body (validated by the service, as ``axiom apply``
validates a file) and the summary every change answers with."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Response
from pydantic import BaseModel

from axiom.services.config_edit import Change

# A JSON object; the service validates it with the config file's models, so errors name the field
# path inside this body.
JsonBody = Annotated[dict[str, Any], Body()]


class ChangeOut(BaseModel):
    name: str
    result: str  # created, updated, unchanged, deleted
    config_version: int
    version: int | None = None  # the ruleset's latest version, for ruleset and rule changes


def change_out(change: Change, response: Response) -> ChangeOut:
    if change.created:
        response.status_code = 201
    return ChangeOut(
        name=change.name, result=change.result, config_version=change.config_version, version=change.version
    )


def schema_of(model: Any) -> dict[str, Any]:
    """``openapi_extra`` documenting the body as ``model`` without FastAPI validating it."""
    from pydantic import TypeAdapter

    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": TypeAdapter(model).json_schema(by_alias=True)}},
        }
    }
