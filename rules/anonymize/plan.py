"""The ``anonymize`` action's settings, and what the engine decides before any tag is touched.

``plan_anonymize`` runs on the dataset as received (like a crosswalk, it never sees earlier edits):
it refuses instances whose pixels may carry burned-in text, resolves the patient's pseudonym (from a
crosswalk table, else a keyed hash) and date shift, and returns an ``AnonymizeStep`` that the
walker applies to the outgoing copy. The step carries the mapping it used, for the caller to store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydicom import Dataset

from rules.anonymize.keys import Keys
from rules.anonymize.profiles import (
    ActionCode,
    OptionName,
    ResolvedProfile,
    check_overrides,
    profile_names,
    resolve,
)

# (table, key) -> value or None: the engine's ``IngestContext.lookup``.
LookupFn = Callable[[str, str], str | None]


class AnonymizeSpec(BaseModel):
    """``anonymize: {profile: research-basic, options: [...], overrides: {Tag: CODE}, ...}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    profile: str = "basic"
    options: list[OptionName] = Field(default_factory=list)
    overrides: dict[str, ActionCode] = Field(default_factory=dict)
    # Pseudonyms from this crosswalk table (key: the received PatientID) instead of a keyed hash.
    crosswalk: str | None = Field(default=None, min_length=1, max_length=64)
    # A PatientID the crosswalk lacks: use the keyed hash, or quarantine the instance.
    on_missing: Literal["hash", "quarantine"] = "hash"
    # Send instances whose pixels may carry burned-in text (BurnedInAnnotation YES, US, SC ...).
    allow_burned_in: bool = False

    _overrides_resolve = field_validator("overrides")(check_overrides)

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        names = profile_names()
        if value not in names:
            raise ValueError(f"unknown anonymization profile {value!r}; known: {', '.join(names)}")
        return value

    @model_validator(mode="after")
    def _resolves(self) -> AnonymizeSpec:
        self.resolved()
        return self

    def resolved(self) -> ResolvedProfile:
        """The profile with options and overrides folded in (cached per distinct settings)."""
        return resolve(self.profile, tuple(self.options), tuple(sorted(self.overrides.items())))


@dataclass(frozen=True)
class Pseudonym:
    """The mapping one anonymization used: store it to allow audited re-identification."""

    original_patient_id: str = field(repr=False)
    original_patient_name: str = field(repr=False)
    patient_id: str
    patient_name: str
    method: Literal["crosswalk", "hash"]
    profile: str
    date_shift_days: int | None = None


@dataclass(frozen=True)
class AnonymizeStep:
    """A resolved ``anonymize`` action, ready to apply to the outgoing copy (rules.morph)."""

    profile: ResolvedProfile
    keys: Keys = field(repr=False)
    pseudonym: Pseudonym


def burned_in_reason(profile: ResolvedProfile, dataset: Dataset) -> str | None:
    """Why the pixels may carry burned-in identity, or None. Names a modality or class, never a value."""
    if str(dataset.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        return "BurnedInAnnotation is YES"
    modality = str(dataset.get("Modality", "")).strip().upper()
    if modality and modality in profile.burned_in_modalities:
        return f"modality {modality} may carry burned-in text"
    sop_class = str(dataset.get("SOPClassUID", "")).strip()
    if sop_class in profile.burned_in_sop_classes:
        return f"SOP class {sop_class} may carry burned-in text"
    return None


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword)
    return "" if value is None else str(value).strip()


def plan_anonymize(
    spec: AnonymizeSpec,
    dataset: Dataset,
    secret: str,
    lookup: LookupFn,
) -> AnonymizeStep | str:
    """The step to apply, or the reason to quarantine instead (burned-in risk, no secret, no entry)."""
    if not secret:
        return "anonymization needs a deployment secret (AXIOM_ANON_SECRET)"
    profile = spec.resolved()
    if not spec.allow_burned_in:
        reason = burned_in_reason(profile, dataset)
        if reason is not None:
            return f"anonymize: {reason} (set allow_burned_in: true once the pixels are known clean)"
    keys = Keys(secret.encode())
    patient_id = _text(dataset, "PatientID")
    pseudonym_id: str | None = None
    method: Literal["crosswalk", "hash"] = "hash"
    if spec.crosswalk is not None:
        pseudonym_id = lookup(spec.crosswalk, patient_id) if patient_id else None
        if pseudonym_id is None and spec.on_missing == "quarantine":
            return f"anonymize: crosswalk {spec.crosswalk!r} has no entry for PatientID"
        method = "crosswalk" if pseudonym_id is not None else "hash"
    if pseudonym_id is None:
        pseudonym_id = keys.patient_pseudonym(patient_id)
    shift = None
    if "retain-longitudinal-modified-dates" in profile.options:
        shift = keys.date_shift_days(patient_id, profile.date_shift_max_days)
    pseudonym = Pseudonym(
        original_patient_id=patient_id,
        original_patient_name=_text(dataset, "PatientName"),
        patient_id=pseudonym_id,
        # Family name only, with its delimiter: a name without "^" reads as the retired PN form.
        patient_name=f"{pseudonym_id}^",
        method=method,
        profile=profile.name,
        date_shift_days=shift,
    )
    return AnonymizeStep(profile, keys, pseudonym)
