"""The JSON Schema of the configuration file (destinations, rulesets, crosswalks, sources, peers).

It is generated from the same pydantic models `axiom apply` validates with, so the published schema
(docs/config.schema.json, for editors and CI linting of config repositories) cannot drift from what
apply accepts; a test checks the published file is current. Destinations and sources are the config
models of every kind the registries know, the installed plugins' included, one per ``type``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Union

from pydantic import BaseModel, Field, create_model

from axiom.domain.config_file import ConfigFile
from axiom.plugins import DESTINATIONS, SOURCES, PluginRegistry

SCHEMA_ID = "https://axiom-router.org/schemas/config.schema.json"


def kinds_union(registry: PluginRegistry[Any], *, installed: bool = True) -> Any:
    """Every kind's config model, discriminated by ``type`` (for documentation: validation asks the
    registry, which also knows kinds installed after this was built). ``installed``: the kinds of
    installed plugins too, else the built-in ones only."""
    models = tuple(registry.config_models(installed=installed).values())
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator=registry.kind_field)]  # noqa: UP007


def destination_config_type() -> Any:
    return kinds_union(DESTINATIONS)


def source_config_type() -> Any:
    return kinds_union(SOURCES)


def config_schema(*, installed: bool = True) -> dict[str, Any]:
    """The schema; ``installed``: with the kinds of every installed plugin (what this installation's
    ``axiom apply`` accepts), else the built-in kinds only (the published docs/config.schema.json)."""
    destinations = kinds_union(DESTINATIONS, installed=installed)
    sources = kinds_union(SOURCES, installed=installed)
    documented: type[BaseModel] = create_model(
        "ConfigFile",
        __base__=ConfigFile,
        destinations=(list[destinations], []),  # type: ignore[valid-type]
        sources=(list[sources], []),  # type: ignore[valid-type]
    )
    schema = documented.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def config_schema_text(*, installed: bool = True) -> str:
    return json.dumps(config_schema(installed=installed), indent=2, sort_keys=True) + "\n"
