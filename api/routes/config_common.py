"""What the config routes share: the request body (validated by the service, as ``axiom apply``
validates a file), its documentation in the OpenAPI schema, and the summary every change answers."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import Body, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, TypeAdapter

from axiom.admin.config_edit import Change

# A JSON object; the service validates it with the config file's models, so errors name the field
# path inside this body.
JsonBody = Annotated[dict[str, Any], Body()]

_REF_TEMPLATE = "#/components/schemas/{model}"
# The models documented bodies refer to, by component name: a model, or a function giving one (the
# union of the kinds the plugin registries know); their schemas are built only when the OpenAPI
# document is (``document_bodies``).
_BODIES: dict[str, Any] = {}


class ChangeOut(BaseModel):
    name: str
    result: str  # created, updated, unchanged, deleted
    config_version: int
    version: int | None = None  # the ruleset's latest version, for ruleset and rule changes

    @classmethod
    def of(cls, change: Change) -> ChangeOut:
        return cls(
            name=change.name,
            result=change.result,
            config_version=change.config_version,
            version=change.version,
        )


def schema_of(model: Any, name: str) -> dict[str, Any]:
    """``openapi_extra`` documenting the body as ``model`` (or what the function ``model`` gives)
    without FastAPI validating it."""
    _BODIES[name] = model
    schema = {"$ref": _REF_TEMPLATE.format(model=name)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def document_bodies(app: FastAPI) -> None:
    """Make the app's OpenAPI schema carry the definitions of the ``schema_of`` bodies."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, model in _BODIES.items():
                body = TypeAdapter(model() if inspect.isfunction(model) else model).json_schema(
                    by_alias=True, ref_template=_REF_TEMPLATE
                )
                for def_name, definition in body.pop("$defs", {}).items():
                    components.setdefault(def_name, definition)
                components.setdefault(name, body)
            for operation in (op for path in schema["paths"].values() for op in path.values()):
                content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                ref = content.get("schema", {}).get("$ref")
                if ref is not None:  # FastAPI merged its own "any object" schema in beside it
                    content["schema"] = {"$ref": ref}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
