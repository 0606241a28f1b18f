"""What a dry-run may show a ``user``: the tag diff with every value derived from the deployment
secret or from a crosswalk masked.

Anonymize keys pseudonyms, UIDs and date shifts with the deployment secret, and a crosswalk maps a
key (often an MRN) to a value from a table nobody but an admin reads: shown as they are, a dry-run
over a range of MRNs would rebuild the table that ``/anonymize/reidentify`` (admin, audited)
protects. A tag is *keyed* when an anonymize step wrote a value that depends on the secret or the
pseudonym (the step is applied a second time with another secret and pseudonym, and the tags whose
values differ are keyed), when a crosswalk wrote it, or when a later copy or move read a keyed tag;
its new value is masked. What the uploader sent (``old``), what anonymize writes whatever the
secret (``PatientIdentityRemoved``, emptied tags) and what a rule sets from its own text are shown.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence

from pydicom import Dataset
from pydicom.tag import BaseTag

from rules.actions import CopyAction, MoveAction, SetAction
from rules.anonymize.keys import Keys
from rules.anonymize.plan import AnonymizeStep
from rules.engine import PlanAction
from rules.model import Lookup
from rules.morph import apply_actions

MASKED = "<masked: keyed with the deployment secret or from a crosswalk>"


class RecordingLookup:
    """A crosswalk lookup that remembers every value it answered (to know which edits came from it)."""

    def __init__(self, inner: Lookup) -> None:
        self.inner = inner
        self.values: set[str] = set()

    def __call__(self, table: str, key: str) -> str | None:
        value = self.inner(table, key)
        if value is not None:
            self.values.add(value)
        return value


def _written(before: Dataset, after: Dataset) -> set[BaseTag]:
    """Top-level tags added or changed from ``before`` to ``after``."""
    written = set()
    for new in after:
        old = before.get(new.tag)
        if old is None or old.VR != new.VR or old.value != new.value:
            written.add(BaseTag(new.tag))
    return written


def _shadow(step: AnonymizeStep) -> AnonymizeStep:
    """The same step keyed with another secret and pseudonym: what differs depends on them."""
    other = f"SHADOW-{secrets.token_hex(6).upper()}"
    shift = step.pseudonym.date_shift_days
    pseudonym = dataclasses.replace(
        step.pseudonym,
        patient_id=other,
        patient_name=f"{other}^",
        date_shift_days=None if shift is None else (shift - 1 if shift < -1 else shift - 2),
    )
    return dataclasses.replace(step, keys=Keys(secrets.token_bytes(32)), pseudonym=pseudonym)


def _keyed_by_step(before: Dataset, after: Dataset, step: AnonymizeStep) -> set[BaseTag]:
    shadow = apply_actions(before, [_shadow(step)])
    keyed = set()
    for tag in _written(before, after):
        mine, theirs = after.get(tag), shadow.get(tag)
        if theirs is None or mine is None or mine.value != theirs.value:
            keyed.add(tag)
    return keyed


def _reads(action: PlanAction) -> BaseTag | None:
    """The tag a copy or move takes its value from."""
    if isinstance(action, CopyAction):
        return action.copy_.source
    if isinstance(action, MoveAction):
        return action.move.source
    return None


def keyed_tags(dataset: Dataset, actions: Sequence[PlanAction], looked_up: set[str]) -> set[str]:
    """Tags ("(gggg,eeee)") whose outgoing value derives from the secret or a crosswalk value."""
    keyed: set[BaseTag] = set()
    current = dataset
    for action in actions:
        after = apply_actions(current, [action])
        if isinstance(action, AnonymizeStep):
            keyed |= _keyed_by_step(current, after, action)
        elif (isinstance(action, SetAction) and action.set.value in looked_up) or _reads(action) in keyed:
            keyed |= _written(current, after)
        current = after
    return {str(tag) for tag in keyed}


__all__ = ["MASKED", "RecordingLookup", "keyed_tags"]
