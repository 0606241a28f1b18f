"""The generated API reference: complete, with the config bodies documented as the file's models
and both credentials declared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.main import create_app
from axiom.config import Settings


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        return {node["$ref"]} if "$ref" in node else set().union(*map(_refs, node.values()))
    if isinstance(node, list):
        return set().union(*map(_refs, node))
    return set()


def test_openapi_refs_resolve_and_bodies_are_documented(tmp_path: Path) -> None:
    schema = create_app(Settings(data_dir=tmp_path / "data")).openapi()
    components = schema["components"]["schemas"]
    refs = _refs(schema)
    assert refs and all(ref.removeprefix("#/components/schemas/") in components for ref in refs)
    body = schema["paths"]["/api/v1/config/rulesets/{name}"]["put"]["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/Ruleset"}
    assert components["Ruleset"]["title"] == "Ruleset" and "rules" in components["Ruleset"]["properties"]
    assert "oneOf" in components["DestinationConfig"] or "anyOf" in components["DestinationConfig"]
    assert set(schema["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
