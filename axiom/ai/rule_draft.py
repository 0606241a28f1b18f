"""``axiom rules draft "English sentence"``: a language model proposes one rule, validated before shown.

The model answers a JSON object; it is validated with the same pydantic model ``axiom apply`` uses
(the published docs/config.schema.json is generated from it), then printed as YAML. Nothing is
applied: a person copies it into the configuration and runs ``axiom apply``. Only the sentence, the
format guide and the known destination names are sent.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml
from pydantic import ValidationError

from axiom.ai.llm import ChatModel
from rules.model import Rule

FORMAT_GUIDE = """You write one routing rule for the Axiom DICOM router as a JSON object {"rule": RULE}.
RULE has: name (letters, digits, . _ -), optional when (a condition), optional actions (a list),
optional destinations (a list of destination names or {"name": N, "priority": "high"|"default"|"low"}).
A condition is one of:
  {"tag": KEYWORD, OPERATOR: VALUE} with OPERATOR one of equals, not_equals, contains, starts_with,
    ends_with, regex, wildcard, in (a list), range ({"min": x, "max": y}), after, before, exists, missing;
    optional "ignore_case": true
  {"context": "calling_ae"|"called_ae"|"source", "equals": VALUE}
  {"inference": {"model": M, "label": L, "min_score": 0.8}}
  {"all": [conditions]}, {"any": [conditions]}, {"not": condition}
An action is one of {"set": {"tag": K, "value": V}}, {"delete": {"tag": K}},
  {"anonymize": {"profile": "basic"}}, {"infer": {"model": M}}, {"quarantine": {"reason": R}},
  {"drop": {"reason": R}}.
Example: {"rule": {"name": "ct-to-pacs", "when": {"tag": "Modality", "equals": "CT"},
  "destinations": ["pacs"]}}"""


class DraftError(ValueError):
    """The model's rule does not validate; ``errors`` says where, without values."""

    def __init__(self, message: str, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


def draft_rule(model: ChatModel, sentence: str, destinations: Sequence[str] = ()) -> tuple[Rule, str]:
    """The validated rule and its YAML; DraftError when the model's answer is not a valid rule."""
    guide = FORMAT_GUIDE
    if destinations:
        guide += "\nKnown destinations: " + ", ".join(destinations)
    answer = model.ask_json(guide, sentence, purpose="rule_draft")
    proposed = answer.get("rule", answer)
    try:
        rule = Rule.model_validate(proposed)
    except ValidationError as exc:
        errors = [f"{'.'.join(map(str, e['loc'])) or 'rule'}: {e['msg']}" for e in exc.errors()]
        raise DraftError("the model's rule does not validate", errors) from None
    data = rule.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    data = {"name": rule.name, **data}
    priorities = data.pop("priorities", {})
    if "destinations" in data:
        # Written as people write them: a priority beside its destination.
        data["destinations"] = [
            {"name": name, "priority": priorities[name]} if name in priorities else name
            for name in data["destinations"]
        ]
    return rule, yaml.safe_dump(data, sort_keys=False)


def unknown_destinations(rule: Rule, destinations: Sequence[str]) -> list[str]:
    return sorted(set(rule.destinations) - set(destinations))


__all__ = ["FORMAT_GUIDE", "DraftError", "draft_rule", "unknown_destinations"]
