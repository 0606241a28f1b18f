"""The JSON Schema of the configuration file (destinations, rulesets, crosswalks).

It is generated from the same pydantic models `axiom apply` validates with, so the published schema
(docs/config.schema.json, for editors and CI linting of config repositories) cannot drift from what
apply accepts; a test checks the published file is current.
"""

from __future__ import annotations

import json
from typing import Any

from axiom.domain.config_file import ConfigFile

SCHEMA_ID = "https://axiom-router.org/schemas/config.schema.json"


def config_schema() -> dict[str, Any]:
    schema = ConfigFile.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def config_schema_text() -> str:
    return json.dumps(config_schema(), indent=2, sort_keys=True) + "\n"
