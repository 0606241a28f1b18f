"""The chart's values schema, probes, disruption budget, optional ServiceMonitor and NetworkPolicy,
read-only root filesystem, and the compose file's limits, health checks and pinned images.

No ``helm`` binary is reachable here, so the schema is checked with ``jsonschema`` the way Helm does it
(values.yaml merged with each ``ci/*.yaml``), and a deliberately broken values file must fail on every
mistake it holds. tests/unit/test_deploy_consistency.py renders the chart when a ``helm`` is there.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "axiom"
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
TEMPLATES = CHART / "templates"


def merged(*files: Path) -> dict[str, Any]:
    """Helm's coalescing of values files: maps merge key by key, anything else is replaced."""

    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            return {**base, **{k: merge(base.get(k), v) for k, v in over.items()}}
        return over

    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    for f in files:
        values = merge(values, yaml.safe_load(f.read_text()) or {})
    return values


def errors(values: dict[str, Any]) -> dict[str, str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return {"/".join(map(str, e.absolute_path)): e.message for e in validator.iter_errors(values)}


def test_the_schema_is_valid_draft_7() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("ci", sorted((CHART / "ci").glob("*.yaml")), ids=lambda p: p.name)
def test_every_ci_values_file_passes_the_schema(ci: Path) -> None:
    assert errors(merged(ci)) == {}


def test_a_broken_values_file_fails_on_every_mistake() -> None:
    found = errors(merged(ROOT / "tests" / "unit" / "helm_broken_values.yaml"))
    assert set(found) == {
        "worker",  # replica
        "worker/queues/0",
        "api/service/type",
        "listener/port",
        "image/pullPolicy",
        "settings",  # LOG_LEVEL
        "persistence/size",
        "beat/livenessProbe/maxAgeSeconds",
    }, found
    assert "'replica' was unexpected" in found["worker"]


def test_probes_check_what_each_role_needs() -> None:
    api = (TEMPLATES / "api-deployment.yaml").read_text()
    readiness = api.split("readinessProbe:", 1)[1].split("resources:", 1)[0]
    assert "path: /ready" in readiness
    helpers = (TEMPLATES / "_helpers.tpl").read_text()
    probe = re.search(r"- '(exec celery -A workers\.app inspect ping [^']+)'", helpers)
    assert probe, "the worker probe is Celery's ping"
    for name in ("worker-deployment.yaml", "gpu-worker-deployment.yaml"):
        assert 'include "axiom.workerProbe"' in (TEMPLATES / name).read_text(), name
    # The probe pings the node name `axiom worker` gives itself as PID 1 of its container.
    assert 'f"axiom-worker-{os.getpid()}@%h"' in (ROOT / "cli" / "roles.py").read_text()
    assert '"axiom-worker-1@${HOSTNAME}"' in probe[1]
    beat = (TEMPLATES / "beat-deployment.yaml").read_text()
    assert '["python", "-m", "beat.heartbeat", "--max-age"' in beat


def test_read_only_root_filesystem_with_writable_volumes() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["securityContext"]["readOnlyRootFilesystem"] is True
    for path in TEMPLATES.glob("*.yaml"):
        text = path.read_text()
        if "containers:" in text:
            assert re.search(r'include "axiom\.(dataMount|tmpMount)"', text), f"{path.name}: no writable /tmp"
            assert re.search(r'include "axiom\.(dataVolume|tmpVolume)"', text), path.name


def test_disruption_budget_service_monitor_and_network_policy() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podDisruptionBudget"]["enabled"] is True
    assert values["metrics"]["serviceMonitor"]["enabled"] is False  # optional: needs the operator
    assert values["networkPolicy"]["enabled"] is False
    pdb = (TEMPLATES / "pdb.yaml").read_text()
    assert "kind: PodDisruptionBudget" in pdb and '"listener" "worker"' in pdb and "beat" not in pdb
    monitor = (TEMPLATES / "servicemonitor.yaml").read_text()
    assert "kind: ServiceMonitor" in monitor and "path: /metrics" in monitor and "required" in monitor
    policy = (TEMPLATES / "networkpolicy.yaml").read_text()
    assert policy.count("kind: NetworkPolicy") == 2 and "policyTypes: [Ingress]" in policy


def test_compose_limits_health_checks_and_pinned_images() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name, svc in services.items():
        limits = svc.get("deploy", {}).get("resources", {}).get("limits", {})
        assert "memory" in limits, f"{name}: no memory limit"
        if "build" not in svc:
            assert re.search(r":[^:]*\d+\.\d+", svc["image"]), f"{name}: {svc['image']} is not pinned"
    for name in ("worker", "gpu-worker", "beat", "api", "listener"):
        assert "test" in services[name]["healthcheck"], f"{name}: no health check"
    helpers = (TEMPLATES / "_helpers.tpl").read_text()
    helm_probe = re.search(r"- '(exec celery [^']+)'", helpers)
    assert helm_probe
    # Compose writes $$ for a literal $: the same command as the chart's.
    assert services["worker"]["healthcheck"]["test"][1].replace("$$", "$") == helm_probe[1]
    assert services["beat"]["healthcheck"]["test"][1:4] == ["python", "-m", "beat.heartbeat"]
