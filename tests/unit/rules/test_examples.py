from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydicom import Dataset

from axiom.destinations import validate_config
from axiom.destinations.cstore import CStoreDestinationConfig
from axiom.destinations.filesystem import FilesystemDestinationConfig
from rules.engine import evaluate
from rules.model import IngestContext, Ruleset
from rules.morph import apply_actions

EXAMPLES = Path(__file__).resolve().parents[3] / "rules" / "examples"


def load(name: str) -> tuple[list[Any], list[Ruleset]]:
    document = yaml.safe_load((EXAMPLES / name).read_text())
    assert set(document) == {"destinations", "rulesets"}
    destinations = [validate_config(item) for item in document["destinations"]]
    rulesets = [Ruleset.model_validate(item) for item in document["rulesets"]]
    return destinations, rulesets


def keys_used(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for value in node.values() for k in keys_used(value)}
    if isinstance(node, list):
        return {k for value in node for k in keys_used(value)}
    return set()


@pytest.mark.parametrize("name", ["default.yaml", "routing-example.yaml"])
def test_example_validates_and_rules_reference_known_destinations(name: str) -> None:
    destinations, rulesets = load(name)
    names = {d.name for d in destinations}
    for ruleset in rulesets:
        for rule in ruleset.rules:
            assert set(rule.destinations) <= names, (ruleset.name, rule.name)


def test_default_archives_everything_locally(ct: Dataset, ctx: IngestContext) -> None:
    destinations, rulesets = load("default.yaml")
    assert destinations == [
        FilesystemDestinationConfig(name="local-archive", description=destinations[0].description)
    ]
    assert destinations[0].root is None
    assert [(rs.name, [r.name for r in rs.rules]) for rs in rulesets] == [("default", ["everything"])]
    assert rulesets[0].rules[0].when is None
    plan = evaluate(rulesets, ct, ctx)
    assert plan.destinations == ("local-archive",)
    assert apply_actions(ct, plan.actions) is ct


def test_routing_example_covers_every_feature() -> None:
    destinations, rulesets = load("routing-example.yaml")
    kinds = {type(d) for d in destinations}
    assert kinds == {FilesystemDestinationConfig, CStoreDestinationConfig}
    fs = next(d for d in destinations if isinstance(d, FilesystemDestinationConfig))
    assert fs.path_template != FilesystemDestinationConfig.model_fields["path_template"].default
    store = next(d for d in destinations if isinstance(d, CStoreDestinationConfig))
    assert (store.host, store.port, store.ae_title) == ("127.0.0.1", 4242, "ORTHANC")
    used = keys_used([rs.model_dump(mode="json", by_alias=True, exclude_none=True) for rs in rulesets])
    assert {"equals", "regex", "exists", "ignore_case", "all", "any", "not", "set", "delete", "vr"} <= used
    assert {rs.mode for rs in rulesets} == {"all_matches", "first_match"}


def test_routing_example_routes_a_ct_and_an_mr(ct: Dataset, ctx: IngestContext) -> None:
    _, rulesets = load("routing-example.yaml")
    plan = evaluate(rulesets, ct, ctx)
    assert plan.matched == ("clinical/ct-to-pacs", "clinical/strip-and-archive", "fallback/no-accession")
    assert plan.destinations == ("pacs", "archive")
    out = apply_actions(ct, plan.actions)
    assert (out.InstitutionName, out.AccessionNumber, out[0x00091001].value) == (
        "Axiom Imaging",
        "UNKNOWN",
        "routed-by-axiom",
    )
    assert "OtherPatientIDsSequence" not in out and "OtherPatientIDsSequence" in ct

    mr = Dataset()
    mr.Modality = "MR"
    mr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    mr.BodyPartExamined = "HEAD"
    mr.AccessionNumber = "A1"
    plan = evaluate(rulesets, mr, ctx)
    assert plan.matched == ("clinical/mr-head", "fallback/everything-else")
    assert plan.destinations == ("pacs", "archive")
    assert plan.actions == ()
