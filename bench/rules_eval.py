"""Rule evaluation cost: 200 realistic rules against one instance, next to a plain pydicom read.

Run from the repository root::

    .venv/bin/python -m bench.rules_eval                 # 200 rules, 2000 evaluations
    .venv/bin/python -m bench.rules_eval --rules 1000 --repeat 500

Writes one synthetic 512x512 CT (tests/factories.py) to a temp folder. Each round reads the file
with ``dcmread`` (timed: the reference a worker pays anyway), then times ``evaluate`` on that
freshly read dataset, so the figure includes decoding the raw elements the rules touch, as in the
worker. Rulesets are compiled once before timing, as the worker's cache does. Prints medians in µs
and the ratio evaluate / dcmread. The target in issue 3 is a median under 500 µs for 200 rules.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydicom import dcmread

from rules.engine import compile_rulesets, evaluate
from rules.model import IngestContext, Ruleset
from tests.factories import LARGE, make_dataset, write_instance

MODALITIES = ["CT", "MR", "CR", "DX", "US", "PT", "NM", "MG", "XA", "OT"]


def _rule(index: int) -> dict[str, Any]:
    """One of ten rule shapes seen in routing configurations; most do not match the CT instance."""
    modality = MODALITIES[index % len(MODALITIES)]
    shape = index % 10
    when: dict[str, Any]
    if shape == 0:
        when = {"tag": "Modality", "equals": modality}
    elif shape == 1:
        when = {
            "all": [
                {"tag": "Modality", "in": [modality, "SR"]},
                {"tag": "StudyDescription", "regex": f"(?i)site{index}|brain"},
            ]
        }
    elif shape == 2:
        when = {"context": "calling_ae", "wildcard": f"{modality}_SCANNER_*"}
    elif shape == 3:
        when = {
            "all": [
                {"tag": "StudyDate", "between": ["20200101", "20231231"]},
                {"tag": "SeriesNumber", "range": {"min": index}},
            ]
        }
    elif shape == 4:
        when = {"tag": "ReferencedSeriesSequence[*].SeriesInstanceUID", "starts_with": f"1.2.{index}."}
    elif shape == 5:
        when = {
            "private": {"group": 0x0009, "creator": "ACME 1.0", "element": 0x10},
            "equals": f"SCANNER-{index}",
        }
    elif shape == 6:
        when = {
            "any": [
                {"tag": "InstitutionName", "contains": f"Hospital {index}", "ignore_case": True},
                {"tag": "StationName", "ends_with": f"-{index}"},
            ]
        }
    elif shape == 7:
        when = {"not": {"tag": "PatientID", "exists": True}}
    elif shape == 8:
        when = {
            "all": [
                {"tag": "Modality", "equals": modality},
                {"not": {"tag": "ImageType", "contains": "LOCALIZER"}},
                {"context": "source", "in": ["listener", "stowrs"]},
            ]
        }
    else:
        when = {"tag": "AccessionNumber", "wildcard": f"ACC{index:04d}*"}
    return {
        "name": f"rule-{index}",
        "when": when,
        "actions": [{"set": {"tag": "InstitutionName", "value": f"Site {index}"}}],
        "destinations": ["archive", {"name": f"pacs-{index % 7}", "priority": "high"}],
    }


def build_rulesets(count: int, per_ruleset: int = 20) -> list[Ruleset]:
    rules = [_rule(index) for index in range(count)]
    return [
        Ruleset.model_validate(
            {
                "name": f"ruleset-{start // per_ruleset}",
                "priority": start,
                "rules": rules[start : start + per_ruleset],
            }
        )
        for start in range(0, count, per_ruleset)
    ]


def _median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args(argv)

    rulesets = build_rulesets(args.rules)
    compile_rulesets(rulesets)
    ctx = IngestContext(calling_ae="CT_SCANNER_1", called_ae="AXIOM", now=datetime.now(UTC))
    with tempfile.TemporaryDirectory() as folder:
        path = write_instance(make_dataset(modality="CT", rows=LARGE, columns=LARGE), Path(folder) / "ct.dcm")
        size = path.stat().st_size
        reads: list[int] = []
        evals: list[int] = []
        matched = 0
        for _ in range(args.repeat):
            started = time.perf_counter_ns()
            dataset = dcmread(path)
            read_done = time.perf_counter_ns()
            plan = evaluate(rulesets, dataset, ctx)
            evals.append(time.perf_counter_ns() - read_done)
            reads.append(read_done - started)
            matched = len(plan.matched)

    read_us, eval_us = _median_us(reads), _median_us(evals)
    print(
        f"file: 512x512 CT, {size / 1024:.0f} KiB; {args.rules} rules in {len(rulesets)} rulesets; {matched} matched"
    )
    print(
        f"evaluate median: {eval_us:.1f} µs per instance (p90 {statistics.quantiles(evals, n=10)[-1] / 1000:.1f} µs)"
    )
    print(f"dcmread  median: {read_us:.1f} µs per instance")
    print(f"ratio evaluate / dcmread: {eval_us / read_us:.2f}")
    if args.rules == 200:
        print(f"target (< 500 µs for 200 rules): {'met' if eval_us < 500 else 'NOT met'}")


if __name__ == "__main__":
    main()
