"""``anonymize``: de-identify one dataset outside the rule engine (tools, tests, benchmarks).

The engine path is ``plan_anonymize`` (on the received dataset) then ``rules.morph`` (on the copy);
this does both for one dataset and returns the copy with the mapping it used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydicom import Dataset

from rules.anonymize.plan import AnonymizeSpec, Pseudonym, plan_anonymize
from rules.morph import apply_actions


class AnonymizeRefused(ValueError):
    """The instance must not be anonymized as asked (burned-in risk, missing crosswalk entry...)."""


@dataclass(frozen=True)
class AnonymizeResult:
    dataset: Dataset
    pseudonym: Pseudonym


def _no_tables(table: str, key: str) -> str | None:
    return None


def anonymize(
    dataset: Dataset,
    spec: AnonymizeSpec,
    secret: str,
    lookup: Callable[[str, str], str | None] = _no_tables,
) -> AnonymizeResult:
    """A de-identified copy of ``dataset`` (left unchanged) and the pseudonym mapping it used.

    Raises ``AnonymizeRefused`` with the reason where the engine would quarantine the instance.
    """
    step = plan_anonymize(spec, dataset, secret, lookup)
    if isinstance(step, str):
        raise AnonymizeRefused(step)
    return AnonymizeResult(apply_actions(dataset, [step]), step.pseudonym)
