"""The deployment artefacts agree with the code.

Every ``AXIOM_*`` variable that the Dockerfile, docker-compose.yml, the Helm chart or the docs name is a
field of :class:`axiom.config.Settings` (pydantic-settings ignores unknown ``AXIOM_*`` variables, so a typo
would otherwise pass silently), and every role they start is a command of the ``axiom`` CLI. With a
``helm`` binary (``$HELM_BIN`` or on ``PATH``) the chart is also linted and rendered.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from axiom.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
CHART = ROOT / "deploy" / "helm" / "axiom"
DOCS = ROOT / "docs"
ENV_NAME = re.compile(r"\bAXIOM_[A-Z0-9_]+\b")
ROLES = {"api", "listen", "worker", "beat", "flower"}


# --- what the code offers ------------------------------------------------------------------------------


def setting_env_names() -> set[str]:
    return {"AXIOM_" + name.upper() for name in Settings.model_fields}


@dataclass
class CommandSpec:
    options: set[str] = field(default_factory=set)
    subcommands: dict[str, CommandSpec] = field(default_factory=dict)


# The CLI as specified for the roles. Used only while cli.main does not import (it is being written in
# parallel); once it does, the commands are read from the typer app itself. Switch to the app alone
# (drop this fallback) when cli/main.py has landed.
FALLBACK_CLI = CommandSpec(
    subcommands={
        "up": CommandSpec(),
        "listen": CommandSpec(),
        "worker": CommandSpec(options={"--queues", "--concurrency"}),
        "beat": CommandSpec(),
        "api": CommandSpec(),
        "flower": CommandSpec(),
        "db": CommandSpec(subcommands={"upgrade": CommandSpec()}),
        "apply": CommandSpec(options={"-f"}),
        "get": CommandSpec(),
    }
)


def _spec_from_click(command: Any) -> CommandSpec:
    # Duck-typed: typer may ship its own copy of click, whose Group is not click.Group.
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    subcommands = {
        name: _spec_from_click(sub) for name, sub in (getattr(command, "commands", None) or {}).items()
    }
    return CommandSpec(options=options, subcommands=subcommands)


def cli_spec() -> tuple[CommandSpec, str]:
    try:
        from cli.main import app
    except ImportError:
        return FALLBACK_CLI, "fallback list (cli.main does not import yet)"
    import typer.main

    return _spec_from_click(typer.main.get_command(app)), "cli.main"


def _planned(kind: str) -> set[str]:
    """Names docs/architecture.md lists as ``- planned command: `axiom NAME``` or ``- planned extra: `NAME```.

    The deployment files may use these before the code has them; the doc tells readers so.
    """
    pattern = rf"^- planned {kind}: `(?:axiom )?([a-z0-9_-]+)`"
    return set(re.findall(pattern, (DOCS / "architecture.md").read_text(), re.M))


def check_invocation(args: list[str], where: str) -> None:
    """``args`` (after the ``axiom`` entry point) names a command, its subcommand, and options it has."""
    spec, source = cli_spec()
    assert args, f"{where}: no command"
    if args[0] not in spec.subcommands and args[0] in _planned("command"):
        return
    rest = list(args)
    path: list[str] = []
    while rest and spec.subcommands:
        name = rest.pop(0)
        assert name in spec.subcommands, (
            f"{where}: {' '.join([*path, name])!r} is not an axiom command "
            f"(known: {sorted(spec.subcommands)}; source: {source})"
        )
        path.append(name)
        spec = spec.subcommands[name]
    for token in rest:
        if token.startswith("-"):
            option = token.split("=", 1)[0]
            assert option in spec.options, (
                f"{where}: `axiom {' '.join(path)}` has no option {option!r} "
                f"(has: {sorted(spec.options)}; source: {source})"
            )


def unknown_env_names(text: str) -> set[str]:
    return set(ENV_NAME.findall(text)) - setting_env_names()


# --- the helpers themselves ----------------------------------------------------------------------------


def test_check_invocation_rejects_unknown_commands_and_options() -> None:
    check_invocation(["worker", "--queues", "high"], "ok")
    check_invocation(["db", "upgrade"], "ok")
    with pytest.raises(AssertionError, match="not an axiom command"):
        check_invocation(["listener"], "typo")
    with pytest.raises(AssertionError, match="not an axiom command"):
        check_invocation(["db", "migrate"], "typo")
    with pytest.raises(AssertionError, match="has no option"):
        check_invocation(["worker", "--queue", "high"], "typo")


def test_planned_names_are_read_from_the_architecture_doc() -> None:
    # The lists are short and name only things the deployment files use.
    assert _planned("command") <= set(FALLBACK_CLI.subcommands)
    assert _planned("extra") <= {"flower"}


def test_unknown_env_names_finds_names_that_are_not_settings() -> None:
    assert unknown_env_names("AXIOM_DATA_DIR=/data AXIOM_DATADIR=/x ${AXIOM_BROKER_URLS}") == {
        "AXIOM_DATADIR",
        "AXIOM_BROKER_URLS",
    }


# --- Dockerfile ----------------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_runtime_image() -> None:
    instructions = _dockerfile_instructions()
    froms = [rest for kw, rest in instructions if kw == "FROM"]
    args = dict(
        rest.split("=", 1)
        for kw, rest in instructions
        if kw == "ARG" and "=" in rest and not rest.startswith("$")
    )
    assert args.get("PYTHON_IMAGE") == "python:3.11-slim"
    assert froms and froms[-1].split()[0] == "${PYTHON_IMAGE}"

    last_stage = instructions[max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM") :]
    users = [rest for kw, rest in last_stage if kw == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert ["/data"] in [json.loads(rest) for kw, rest in last_stage if kw == "VOLUME"]
    assert [json.loads(rest) for kw, rest in last_stage if kw == "ENTRYPOINT"] == [["axiom"]]
    cmd = [json.loads(rest) for kw, rest in last_stage if kw == "CMD"]
    assert cmd == [["up"]]
    check_invocation(cmd[0], "Dockerfile CMD")

    healthcheck = [rest for kw, rest in last_stage if kw == "HEALTHCHECK"]
    assert len(healthcheck) == 1
    probe = json.loads(healthcheck[0][healthcheck[0].index("CMD ") + 4 :])
    assert probe[:2] == ["python", "-c"] and "/health" in probe[2]
    compile(probe[2], "HEALTHCHECK", "exec")

    assert not unknown_env_names(DOCKERFILE.read_text())


def test_dockerfile_extras_exist_in_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(pyproject["project"].get("optional-dependencies", {}))
    args = dict(rest.split("=", 1) for kw, rest in _dockerfile_instructions() if kw == "ARG" and "=" in rest)
    wanted = {e.strip() for e in args["EXTRAS"].split(",") if e.strip()}
    # pip only warns about an unknown extra, so the image would silently lack e.g. Flower.
    missing = wanted - extras - _planned("extra")
    assert not missing, f"Dockerfile EXTRAS {sorted(missing)} are not extras in pyproject.toml"


def test_dockerignore_keeps_what_pip_install_needs() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = ["pyproject.toml"]
    if isinstance(pyproject["project"].get("readme"), str):
        needed.append(pyproject["project"]["readme"])
    needed += [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in needed:
        hits = [p for p in patterns if not p.startswith("!") and fnmatch.fnmatch(path, p)]
        assert not hits, f".dockerignore pattern {hits} drops {path}, which `pip install .` needs"


# --- docker-compose.yml ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _axiom_services(compose: dict) -> dict[str, dict]:
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def test_compose_sets_only_settings_variables(compose: dict) -> None:
    assert not unknown_env_names(COMPOSE.read_text())
    for name, svc in _axiom_services(compose).items():
        env = svc.get("environment", {})
        assert isinstance(env, dict), f"{name}: use a mapping for environment"
        assert not {k for k in env if k.startswith("AXIOM_")} - setting_env_names()


def _compose_invocations(name: str, svc: dict) -> list[list[str]]:
    """The ``axiom`` command lines a service runs: its command, or the ``axiom`` lines of its sh script."""
    command = svc.get("command")
    assert isinstance(command, list), f"{name}: give command as a list"
    if svc.get("entrypoint") == ["sh", "-c"]:
        axiom_lines = [ln for ln in command[0].splitlines() if re.match(r"\s*(exec\s+)?axiom\s", ln)]
        found = [(words := shlex.split(ln))[words.index("axiom") + 1 :] for ln in axiom_lines]
        assert found, f"{name}: its script runs no axiom command"
        return found
    assert "entrypoint" not in svc, f"{name}: unexpected entrypoint {svc['entrypoint']}"
    return [command]


def test_compose_roles_are_cli_commands(compose: dict) -> None:
    started = []
    for name, svc in _axiom_services(compose).items():
        for invocation in _compose_invocations(name, svc):
            check_invocation(invocation, f"docker-compose service {name}")
            started.append(invocation)
    assert {args[0] for args in started} >= ROLES
    assert ["db", "upgrade"] in started


def test_compose_demo_config_is_a_valid_apply_file(compose: dict) -> None:
    from axiom.domain.config_file import ConfigFile
    from axiom.plugins import validation_context

    svc = compose["services"]["demo-config"]
    assert svc["profiles"] == ["demo"]
    (invocation,) = _compose_invocations("demo-config", svc)
    assert invocation[:2] == ["apply", "-f"]
    script = svc["command"][0]
    body = re.search(r"<<'YAML'\n(.*?)\nYAML\n", script, re.S)
    assert body, "demo-config: no heredoc"
    config = ConfigFile.model_validate(yaml.safe_load(body.group(1)), context=validation_context())
    assert not config.undefined_destinations()
    (orthanc,) = [d for d in config.destinations if d.name == "orthanc"]
    orthanc_env = compose["services"]["orthanc"]["environment"]
    assert (orthanc.host, orthanc.port, orthanc.ae_title) == (
        "orthanc",
        int(orthanc_env["ORTHANC__DICOM_PORT"]),
        orthanc_env["ORTHANC__DICOM_AET"],
    )


def test_compose_wiring(compose: dict) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "rabbitmq", "api", "listener", "worker", "beat", "flower"} <= set(services)
    assert "management" in services["rabbitmq"]["image"]
    assert services["orthanc"]["image"].startswith("orthancteam/orthanc")
    assert services["orthanc"]["profiles"] == ["demo"]
    # Published on loopback unless the operator opts in; no password has a default.
    assert services["listener"]["ports"] == ["${BIND_ADDRESS:-127.0.0.1}:11112:11112"]
    assert services["api"]["ports"] == ["${BIND_ADDRESS:-127.0.0.1}:8080:8080"]
    assert not re.search(r"PASSWORD:-", COMPOSE.read_text())

    # Scalable: nothing that pins one container.
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]

    # One named volume for /data, shared by every role that touches the spool.
    for name in ("api", "listener", "worker", "beat", "migrate"):
        mounts = [v.split(":") for v in services[name]["volumes"]]
        data = [m for m in mounts if m[1] == "/data"]
        assert data and data[0][0] in compose["volumes"], f"{name}: /data is not the shared named volume"

    # Every depends_on condition can be met.
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            target = services[dep]
            if cond["condition"] == "service_healthy":
                assert "test" in target.get("healthcheck", {}), (
                    f"{name} waits on {dep}, which has no healthcheck"
                )
            elif cond["condition"] == "service_completed_successfully":
                assert target.get("restart") == "no", f"{dep} is a one-shot: restart must be 'no'"

    env = services["worker"]["environment"]
    for var, scheme, host in (
        ("AXIOM_DATABASE_URL", "postgresql+psycopg", "postgres"),
        ("AXIOM_BROKER_URL", "amqp", "rabbitmq"),
        ("AXIOM_RESULT_BACKEND", "redis", "redis"),
    ):
        url = urlsplit(_interpolate(env[var]))
        assert (url.scheme, url.hostname) == (scheme, host), f"{var}={env[var]}"
    assert env["AXIOM_DATA_DIR"] == "/data"
    assert services["api"]["environment"]["AXIOM_API_HOST"] == "0.0.0.0"


def _interpolate(value: str) -> str:
    """Compose interpolation: ${VAR:-default} -> default; ${VAR:?message} (required) -> a stand-in."""
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "secret", value)


def test_compose_values_parse_as_settings(compose: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    for svc in _axiom_services(compose).values():
        for name, value in svc["environment"].items():
            if name.startswith("AXIOM_"):
                monkeypatch.setenv(name, _interpolate(str(value)))
        Settings()


# --- Helm chart, without helm --------------------------------------------------------------------------


def _chart_texts() -> dict[str, str]:
    files = [
        CHART / "values.yaml",
        *sorted((CHART / "templates").iterdir()),
        *sorted((CHART / "ci").iterdir()),
    ]
    return {str(p.relative_to(CHART)): p.read_text() for p in files if p.is_file()}


def _template_args(text: str) -> list[list[str]]:
    """Literal leading tokens of every ``args:`` list (flow or block style) in a template."""
    found = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"\s*args:\s*(.*)$", line)
        if not match:
            continue
        if match.group(1).startswith("["):
            items = [s.strip() for s in match.group(1).strip("[] ").split(",")]
        else:
            items = []
            for nxt in lines[i + 1 :]:
                item = re.match(r"\s*-\s+(.*)$", nxt)
                if item:
                    items.append(item.group(1).strip())
                elif not re.match(r"\s*\{\{-?\s*(if|end|else)", nxt):
                    break
        tokens = []
        for item in items:
            if not re.fullmatch(r'"[^"{}]*"', item):
                break
            tokens.append(item.strip('"'))
        found.append(tokens)
    return found


def test_chart_names_only_settings_variables() -> None:
    for name, text in _chart_texts().items():
        assert not unknown_env_names(text), f"{name}: {sorted(unknown_env_names(text))}"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["settings"]) <= setting_env_names()


def test_chart_roles_are_cli_commands() -> None:
    started = []
    for name, text in _chart_texts().items():
        if name.startswith("templates/"):
            for tokens in _template_args(text):
                check_invocation(tokens, name)
                started.append(tokens)
    assert {t[0] for t in started if t} >= ROLES
    assert ["db", "upgrade"] in started


def test_chart_flower_is_off_by_default_and_never_without_basic_auth() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["flower"]["enabled"] is False
    template = (CHART / "templates" / "flower-deployment.yaml").read_text()
    assert "fail" in template and "basicAuthSecret" in template and "FLOWER_BASIC_AUTH" in template


def test_chart_has_no_statefulset() -> None:
    for name, text in _chart_texts().items():
        assert not re.search(r"kind:\s*StatefulSet", text), name


# --- Helm chart, rendered ------------------------------------------------------------------------------


def _helm() -> str | None:
    return os.environ.get("HELM_BIN") or shutil.which("helm")


needs_helm = pytest.mark.skipif(_helm() is None, reason="no helm binary (set HELM_BIN or put helm on PATH)")


def _render(*values_files: str, sets: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    cmd = [_helm(), "template", "rel", str(CHART)]
    for f in values_files:
        cmd += ["-f", str(CHART / "ci" / f)]
    for s in sets:
        cmd += ["--set", s]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _manifests(*values_files: str) -> list[dict]:
    result = _render(*values_files)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {
        d["metadata"]["labels"].get("app.kubernetes.io/component", d["metadata"]["name"]): d
        for d in docs
        if d["kind"] == kind
    }


def _pod_specs(docs: list[dict]) -> dict[str, dict]:
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] in {"Deployment", "Job"}
    }


@needs_helm
@pytest.mark.parametrize("values_file", sorted(p.name for p in (CHART / "ci").glob("*.yaml")))
def test_helm_lint(values_file: str) -> None:
    result = subprocess.run(
        [_helm(), "lint", "--strict", str(CHART), "-f", str(CHART / "ci" / values_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_helm
def test_helm_requires_the_secret_reference() -> None:
    result = _render()
    assert result.returncode != 0 and "existingSecret is required" in result.stderr


@needs_helm
def test_helm_default_render(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = _manifests("default-values.yaml")
    kinds = {d["kind"] for d in docs}
    assert (
        "StatefulSet" not in kinds and "HorizontalPodAutoscaler" not in kinds and "ScaledObject" not in kinds
    )
    deployments = _by_kind(docs, "Deployment")
    assert set(deployments) == {"api", "listener", "worker", "beat"}  # Flower is off by default
    assert deployments["beat"]["spec"]["replicas"] == 1
    assert deployments["beat"]["spec"]["strategy"]["type"] == "Recreate"

    config = _by_kind(docs, "ConfigMap")["config"]["data"]
    assert set(config) <= setting_env_names()
    for name, value in config.items():
        monkeypatch.setenv(name, value)
    Settings()  # every value parses as its field's type
    assert config["AXIOM_DATA_DIR"] == "/data" and config["AXIOM_DICOM_PORT"] == "11112"

    pvc = _by_kind(docs, "PersistentVolumeClaim")["data"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    claim = pvc["metadata"]["name"]

    listener_svc = _by_kind(docs, "Service")["listener"]["spec"]
    assert listener_svc["ports"] == [
        {"name": "dicom", "port": 11112, "targetPort": "dicom", "protocol": "TCP"}
    ]

    for role, spec in _pod_specs(docs).items():
        (container,) = spec["containers"]
        check_invocation(container["args"], f"rendered {role}")
        env_names = {e["name"] for e in container.get("env", [])}
        assert {n for n in env_names if n.startswith("AXIOM_")} <= setting_env_names(), role
        assert {"AXIOM_DATABASE_URL", "AXIOM_BROKER_URL"} <= env_names, role
        for env in container["env"]:
            if env["name"] in {"AXIOM_DATABASE_URL", "AXIOM_BROKER_URL"}:
                assert env["valueFrom"]["secretKeyRef"]["name"] == "axiom-urls"
        assert container["resources"]["requests"], role
        if role in {"api", "listener", "worker", "beat"}:
            claims = [v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]]
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert claims == [claim] and "/data" in mounts, role

    listener = _pod_specs(docs)["listener"]["containers"][0]
    assert listener["ports"][0]["containerPort"] == 11112
    api = _pod_specs(docs)["api"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"


@needs_helm
def test_helm_keda_render() -> None:
    docs = _manifests("keda-values.yaml")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    (scaled,) = [d for d in docs if d["kind"] == "ScaledObject"]
    worker = _by_kind(docs, "Deployment")["worker"]
    assert "replicas" not in worker["spec"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    triggers = scaled["spec"]["triggers"]
    assert [t["metadata"]["queueName"] for t in triggers] == values["worker"]["queues"]
    worker_env = {e["name"] for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {t["metadata"]["hostFromEnv"] for t in triggers} <= worker_env
    assert "PersistentVolumeClaim" not in {d["kind"] for d in docs}  # existingClaim
    assert {d["kind"] for d in docs} >= {"Ingress"}


@needs_helm
def test_helm_hpa_render_and_exclusive_with_keda() -> None:
    docs = _manifests("hpa-values.yaml")
    (hpa,) = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == _by_kind(docs, "Deployment")["worker"]["metadata"]["name"]
    assert "flower" not in _by_kind(docs, "Deployment")
    result = _render("keda-values.yaml", sets=("worker.autoscaling.enabled=true",))
    assert result.returncode != 0 and "alternatives" in result.stderr


# --- docs ----------------------------------------------------------------------------------------------


def test_configuration_doc_lists_every_setting() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = sorted(name for name in setting_env_names() if f"`{name}`" not in text)
    assert not missing, f"docs/configuration.md lacks {missing}"


@pytest.mark.parametrize("doc", ["architecture.md", "deployment.md", "configuration.md"])
def test_docs_name_only_settings_variables(doc: str) -> None:
    assert not unknown_env_names((DOCS / doc).read_text())


def test_architecture_doc_names_existing_code() -> None:
    """Every source path in a table row not marked planned exists in the tree."""
    checked = 0
    for line in (DOCS / "architecture.md").read_text().splitlines():
        if not line.startswith("| ") or "planned" in line:
            continue
        for token in re.findall(r"`([a-z_]+/[A-Za-z0-9_./]*)`", line):
            assert (ROOT / token).exists(), f"docs/architecture.md names {token}, which is not in the tree"
            checked += 1
    assert checked >= 10
