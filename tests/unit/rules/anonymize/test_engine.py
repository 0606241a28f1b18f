"""The anonymize action inside the rule engine: burned-in quarantine, crosswalk pseudonyms, the
secret from the context, and the mapping the plan hands to the caller."""

from __future__ import annotations

from typing import Any

from pydicom import Dataset

from rules.anonymize.keys import Keys
from rules.anonymize.plan import AnonymizeStep
from rules.engine import Plan, evaluate
from rules.model import IngestContext, Ruleset
from rules.morph import apply_actions
from tests.factories import make_dataset
from tests.unit.rules.anonymize.phi import SECRET


def _plan(
    ds: Dataset, spec: dict[str, Any], secret: str = SECRET, table: dict[str, str] | None = None
) -> Plan:
    ruleset = Ruleset.model_validate(
        {
            "name": "research",
            "rules": [{"name": "anon", "actions": [{"anonymize": spec}], "destinations": ["out"]}],
        }
    )
    entries = table or {}

    def lookup(name: str, key: str) -> str | None:
        return entries.get(key) if name == "mrn-map" else None

    return evaluate([ruleset], ds, IngestContext(anon_secret=secret, lookup=lookup))


def test_burned_in_annotation_yes_quarantines() -> None:
    ds = make_dataset(modality="CT")
    ds.BurnedInAnnotation = "YES"
    plan = _plan(ds, {"profile": "basic"})
    assert plan.disposition == "quarantine"
    assert "BurnedInAnnotation is YES" in plan.reason and plan.destinations == ()
    assert _plan(ds, {"profile": "basic", "allow_burned_in": True}).disposition == "route"


def test_risky_modalities_and_sop_classes_quarantine() -> None:
    for modality in ("US", "OT"):  # ultrasound, secondary capture
        plan = _plan(make_dataset(modality=modality), {"profile": "research-basic"})
        assert plan.disposition == "quarantine", modality
        assert "burned-in" in plan.reason
    ds = make_dataset(modality="CT")
    ds.Modality = "XX"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    assert "SOP class" in _plan(ds, {"profile": "basic"}).reason
    assert _plan(make_dataset(modality="US"), {"allow_burned_in": True}).disposition == "route"


def test_no_secret_quarantines_rather_than_send_identifiable_data() -> None:
    plan = _plan(make_dataset(modality="CT"), {"profile": "basic"}, secret="")
    assert plan.disposition == "quarantine" and "AXIOM_ANON_SECRET" in plan.reason


def test_the_plan_carries_the_pseudonym_and_morph_applies_it() -> None:
    ds = make_dataset(modality="CT")
    plan = _plan(ds, {"profile": "research-basic"})
    assert plan.disposition == "route"
    [step] = plan.actions
    assert isinstance(step, AnonymizeStep)
    [pseudonym] = plan.pseudonyms
    assert pseudonym.original_patient_id == ds.PatientID
    assert pseudonym.patient_id == Keys(SECRET.encode()).patient_pseudonym(ds.PatientID)
    assert pseudonym.method == "hash" and pseudonym.date_shift_days is not None
    out = apply_actions(ds, plan.actions)
    assert out.PatientID == pseudonym.patient_id and ds.PatientID == pseudonym.original_patient_id
    assert ds.PatientID not in repr(pseudonym)  # the original stays out of reprs and logs


def test_pseudonyms_from_a_crosswalk_table() -> None:
    ds = make_dataset(modality="CT")
    spec = {"profile": "basic", "crosswalk": "mrn-map"}
    plan = _plan(ds, spec, table={ds.PatientID: "STUDY-0042"})
    [pseudonym] = plan.pseudonyms
    assert (pseudonym.patient_id, pseudonym.method) == ("STUDY-0042", "crosswalk")
    assert apply_actions(ds, plan.actions).PatientName == "STUDY-0042^"
    # Unknown key: the keyed hash, or quarantine when asked.
    assert _plan(ds, spec).pseudonyms[0].method == "hash"
    held = _plan(ds, {**spec, "on_missing": "quarantine"})
    assert held.disposition == "quarantine" and "mrn-map" in held.reason


def test_edits_before_anonymize_do_not_change_who_the_pseudonym_stands_for() -> None:
    ds = make_dataset(modality="CT")
    ruleset = Ruleset.model_validate(
        {
            "name": "r",
            "rules": [
                {
                    "name": "a",
                    "actions": [{"set": {"tag": "PatientID", "value": "EDITED"}}, {"anonymize": {}}],
                    "destinations": ["out"],
                }
            ],
        }
    )
    plan = evaluate([ruleset], ds, IngestContext(anon_secret=SECRET))
    assert plan.pseudonyms[0].original_patient_id == ds.PatientID
