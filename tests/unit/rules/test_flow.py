"""How rulesets combine: schedules, stop_after_match, fallback, dispositions, priorities, crosswalks, caching."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydicom import Dataset

from rules import engine
from rules.engine import Plan, ScheduleError, compile_rulesets, evaluate
from rules.model import IngestContext, Ruleset, SetAction
from rules.morph import MorphError, apply_actions

IS_CT = {"tag": "Modality", "equals": "CT"}
IS_MR = {"tag": "Modality", "equals": "MR"}
WORKDAYS = {
    "timezone": "Europe/Berlin",
    "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00"}],
}


def ruleset(name: str, rules: list[dict[str, Any]], **fields: Any) -> Ruleset:
    return Ruleset.model_validate({"name": name, "rules": rules, **fields})


def at(text: str, zone: str = "Europe/Berlin") -> IngestContext:
    return IngestContext(now=datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)))


@pytest.mark.parametrize(
    ("local_time", "inside"),
    [
        ("2024-03-13 08:00", True),  # Wednesday, start is inclusive
        ("2024-03-13 17:59", True),
        ("2024-03-13 18:00", False),  # end is exclusive
        ("2024-03-13 07:59", False),
        ("2024-03-16 12:00", False),  # Saturday
    ],
)
def test_schedule_window_in_its_time_zone(local_time: str, inside: bool, ct: Dataset) -> None:
    rs = ruleset("day", [{"name": "r", "destinations": ["pacs"]}], schedule=WORKDAYS)
    assert (evaluate([rs], ct, at(local_time)).destinations == ("pacs",)) is inside


def test_schedule_reads_now_in_the_schedule_zone_not_utc(ct: Dataset) -> None:
    rs = ruleset("day", [{"name": "r", "destinations": ["pacs"]}], schedule=WORKDAYS)
    # 07:30 UTC is 08:30 in Berlin (CET, UTC+1) on this date; 17:30 UTC is 18:30 there.
    assert evaluate([rs], ct, IngestContext(now=datetime(2024, 3, 13, 7, 30, tzinfo=UTC))).destinations == (
        "pacs",
    )
    assert evaluate([rs], ct, IngestContext(now=datetime(2024, 3, 13, 17, 30, tzinfo=UTC))).destinations == ()


def test_window_past_midnight_belongs_to_its_start_day(ct: Dataset) -> None:
    night = {"timezone": "UTC", "windows": [{"days": ["fri"], "start": "22:00", "end": "06:00"}]}
    rs = ruleset("night", [{"name": "r", "destinations": ["pacs"]}], schedule=night)
    routed = {
        t: evaluate([rs], ct, at(t, "UTC")).destinations == ("pacs",)
        for t in (
            "2024-03-15 21:59",
            "2024-03-15 22:00",
            "2024-03-16 05:59",
            "2024-03-16 06:00",
            "2024-03-14 23:00",
            "2024-03-15 03:00",
            "2024-03-16 23:00",
        )
    }
    assert routed == {
        "2024-03-15 21:59": False,
        "2024-03-15 22:00": True,
        "2024-03-16 05:59": True,
        "2024-03-16 06:00": False,
        "2024-03-14 23:00": False,
        "2024-03-15 03:00": False,
        "2024-03-16 23:00": False,
    }


def test_scheduled_ruleset_without_now_is_an_error(ct: Dataset) -> None:
    rs = ruleset("day", [{"name": "r", "destinations": ["pacs"]}], schedule=WORKDAYS)
    with pytest.raises(ScheduleError, match="'day' has a schedule"):
        evaluate([rs], ct, IngestContext())
    # A disabled scheduled ruleset is never reached, so needs no clock.
    off = ruleset("day", [{"name": "r"}], schedule=WORKDAYS, enabled=False)
    assert evaluate([off], ct, IngestContext()) == Plan()


def test_stop_after_match_stops_lower_priority_rulesets_only_when_it_matched(
    ct: Dataset, ctx: IngestContext
) -> None:
    urgent = ruleset(
        "urgent", [{"name": "ct", "when": IS_CT, "destinations": ["fast"]}], priority=1, stop_after_match=True
    )
    early = ruleset("early", [{"name": "all", "destinations": ["early"]}], priority=0)
    late = ruleset("late", [{"name": "all", "destinations": ["late"]}], priority=5)
    assert evaluate([late, urgent, early], ct, ctx).matched == ("early/all", "urgent/ct")
    mr = Dataset()
    mr.Modality = "MR"
    assert evaluate([late, urgent, early], mr, ctx).matched == ("early/all", "late/all")


def test_fallback_fires_only_when_nothing_else_matched(ct: Dataset, ctx: IngestContext) -> None:
    rulesets = [
        ruleset("clinical", [{"name": "mr", "when": IS_MR, "destinations": ["pacs"]}], priority=1),
        ruleset(
            "catchall",
            [
                {"name": "unrouted", "fallback": True, "destinations": ["review"]},
                {
                    "name": "ct-research",
                    "when": {"tag": "StudyDescription", "contains": "research"},
                    "destinations": ["res"],
                },
            ],
            priority=2,
        ),
    ]
    plan = evaluate(rulesets, ct, ctx)
    assert (plan.matched, plan.destinations) == (("catchall/unrouted",), ("review",))
    mr = Dataset()
    mr.Modality = "MR"
    plan = evaluate(rulesets, mr, ctx)
    assert (plan.matched, plan.destinations) == (("clinical/mr",), ("pacs",))


def test_fallback_respects_its_condition_and_first_match(ct: Dataset, ctx: IngestContext) -> None:
    rs = ruleset(
        "fb",
        [
            {"name": "mr-fallback", "fallback": True, "when": IS_MR, "destinations": ["a"]},
            {"name": "ct-fallback", "fallback": True, "when": IS_CT, "destinations": ["b"]},
            {"name": "any-fallback", "fallback": True, "destinations": ["c"]},
        ],
        mode="first_match",
    )
    assert evaluate([rs], ct, ctx).matched == ("fb/ct-fallback",)


def test_quarantine_and_drop_replace_routing(ct: Dataset, ctx: IngestContext) -> None:
    route = {"name": "route", "destinations": ["pacs"]}
    drop = {
        "name": "no-sc",
        "when": IS_CT,
        "actions": [{"drop": {"reason": "secondary captures are not kept"}}],
    }
    hold = {"name": "hold", "actions": [{"quarantine": {"reason": "under review"}}]}
    plan = evaluate([ruleset("rs", [route, drop])], ct, ctx)
    assert (plan.disposition, plan.reason, plan.destinations, plan.priorities) == (
        "drop",
        "rs/no-sc: secondary captures are not kept",
        (),
        {},
    )
    plan = evaluate([ruleset("rs", [route, drop, hold])], ct, ctx)
    assert (plan.disposition, plan.reason) == ("quarantine", "rs/hold: under review")
    assert plan.actions == ()
    assert evaluate([ruleset("rs", [route])], ct, ctx).disposition == "route"


def test_destination_priorities_merge_to_the_highest(ct: Dataset, ctx: IngestContext) -> None:
    rules = [
        {"name": "a", "destinations": ["archive", {"name": "pacs", "priority": "low"}]},
        {
            "name": "b",
            "destinations": [{"name": "pacs", "priority": "high"}, {"name": "ai", "priority": "low"}],
        },
    ]
    plan = evaluate([ruleset("rs", rules)], ct, ctx)
    assert plan.destinations == ("archive", "pacs", "ai")
    assert plan.priorities == {"archive": "default", "pacs": "high", "ai": "low"}


def test_destination_priorities_round_trip_and_keep_names(ct: Dataset) -> None:
    rs = ruleset("rs", [{"name": "a", "destinations": ["archive", {"name": "pacs", "priority": "high"}]}])
    assert rs.rules[0].destinations == ["archive", "pacs"]
    dumped = rs.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert Ruleset.model_validate(dumped) == rs
    assert dumped["rules"][0]["priorities"] == {"pacs": "high"}


def _lookup(table: str, key: str) -> str | None:
    return {
        ("mrn", "PID-0001"): "MRN-777",
        ("desc", "CT Head without contrast"): "HEAD CT",
        ("mod", "CT"): "ct scanner",
    }.get((table, key))


@pytest.mark.parametrize(
    ("on_missing", "extra", "disposition", "patient_id"),
    [
        ("keep", {}, "route", "UNKNOWN-PID"),
        ("default", {"default": "NOMATCH"}, "route", "NOMATCH"),
        ("quarantine", {}, "quarantine", "UNKNOWN-PID"),
    ],
)
def test_crosswalk_missing_key_policies(
    on_missing: str, extra: dict[str, str], disposition: str, patient_id: str, ct: Dataset
) -> None:
    ct.PatientID = "UNKNOWN-PID"
    action = {"crosswalk": {"table": "mrn", "tag": "PatientID", "on_missing": on_missing, **extra}}
    plan = evaluate(
        [ruleset("rs", [{"name": "xw", "actions": [action], "destinations": ["pacs"]}])],
        ct,
        IngestContext(lookup=_lookup),
    )
    assert plan.disposition == disposition
    assert apply_actions(ct, plan.actions).PatientID == patient_id
    if disposition == "quarantine":
        assert plan.reason == "rs/xw: crosswalk 'mrn' has no entry for (0010,0020) PatientID"
        assert "UNKNOWN-PID" not in plan.reason


def test_crosswalk_replaces_through_the_table_keyed_by_the_received_value(ct: Dataset) -> None:
    rules = [
        {"name": "first", "actions": [{"set": {"tag": "PatientID", "value": "CHANGED"}}]},
        {
            "name": "xw",
            "actions": [
                {"crosswalk": {"table": "mrn", "tag": "PatientID"}},
                {"crosswalk": {"table": "desc", "tag": "StudyDescription"}},
            ],
        },
    ]
    plan = evaluate([ruleset("rs", rules)], ct, IngestContext(lookup=_lookup))
    assert [type(a) for a in plan.actions] == [SetAction, SetAction, SetAction]
    out = apply_actions(ct, plan.actions)
    assert (out.PatientID, out.StudyDescription) == ("MRN-777", "HEAD CT")
    # No tables in the default context: every key is missing, so "keep" leaves the value.
    assert evaluate([ruleset("rs", rules[1:])], ct, IngestContext()).actions == ()


def test_compiled_once_per_ruleset_object(ct: Dataset, ctx: IngestContext) -> None:
    rs = ruleset("rs", [{"name": "r", "when": {"tag": "StudyDescription", "regex": "unique-7f3a"}}])
    first = compile_rulesets([rs])
    assert compile_rulesets([rs]) is first
    engine.compile_pattern.cache_clear()
    for _ in range(20):
        evaluate([rs], ct, ctx)
    assert engine.compile_pattern.cache_info().misses == 0
    # An equal but new object (a reloaded configuration) is compiled afresh.
    again = Ruleset.model_validate(rs.model_dump(by_alias=True))
    assert compile_rulesets([again]) is not first
    assert compile_rulesets([again])[0].rules[0].when is not first[0].rules[0].when


def test_crosswalk_value_invalid_for_the_vr_fails_when_applied_naming_the_tag(ct: Dataset) -> None:
    rules = [{"name": "xw", "actions": [{"crosswalk": {"table": "mod", "tag": "Modality"}}]}]
    plan = evaluate([ruleset("rs", rules)], ct, IngestContext(lookup=_lookup))
    with pytest.raises(MorphError, match=r"\(0008,0060\) Modality.*VR CS") as info:
        apply_actions(ct, plan.actions)
    assert "ct scanner" not in str(info.value)
