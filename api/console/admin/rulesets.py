"""Rulesets for admins: a YAML editor validated as the user types (the message at its line), diff
against the active version, apply, dry-run of an uploaded file, version history and rollback."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.console import yaml_lines
from api.console.completion import completion_context
from api.console.render import page
from api.console.session import AdminPage, ConsoleAdmin
from api.deps import SessionDep
from axiom.admin import config_edit, ruleset_versions
from axiom.admin.apply_config import ConfigFileError, parse_config
from axiom.admin.config_dump import dump_destinations, dump_rulesets
from axiom.admin.dry_run import UnknownRuleset, UnreadableFile, dry_run_files
from axiom.admin.dry_run_candidate import dry_run_candidate, dry_run_stored, recent_headers
from axiom.admin.replay import ReplayInputError, replay
from axiom.db.repositories import config as config_repo
from axiom.infra.anon_secret import deployment_secret

router = APIRouter(include_in_schema=False)
TEXT = Annotated[str, Form(max_length=500_000)]


def _active_yaml(session: Any, name: str) -> str:
    try:
        return ruleset_versions.as_yaml(config_repo.dump_model(config_edit.get_ruleset(session, name)))
    except config_edit.ConfigNotFound:
        return ""


def _validate(text: str) -> tuple[Any, list[yaml_lines.Problem]]:
    data, problems = yaml_lines.parse(text)
    if problems:
        return None, problems
    if not isinstance(data, dict):
        return None, [yaml_lines.Problem(1, "", "a ruleset is a mapping: name, rules, ...")]
    try:
        parse_config({"rulesets": [data]}, source="editor")
    except ConfigFileError as exc:
        return None, yaml_lines.problems(text, exc, prefix="rulesets[0]")
    return data, []


@router.get("/admin/rulesets")
def rulesets(request: Request, _: AdminPage, session: SessionDep) -> Response:
    return page(request, "admin/rulesets.html", {"items": dump_rulesets(session)})


@router.get("/admin/rulesets/{name}")
def editor(request: Request, name: str, _: AdminPage, session: SessionDep) -> Response:
    text = _active_yaml(session, name) or f"name: {name}\nrules:\n  - name: first\n    destinations: []\n"
    history = ruleset_versions.history(session, name)
    context = {
        "name": name,
        "text": text,
        "problems": [],
        "history": list(reversed(history)),
        "message": None,
        "recent": recent_headers(session),
    }
    return page(request, "admin/ruleset.html", context)


@router.post("/admin/rulesets/{name}/validate")
def validate(request: Request, name: str, _: ConsoleAdmin, text: TEXT) -> Response:
    _, problems = _validate(text)
    return page(request, "admin/problems.html", {"problems": problems, "valid": not problems})


@router.post("/admin/rulesets/{name}/complete")
def complete(
    request: Request, name: str, _: ConsoleAdmin, text: TEXT, line: Annotated[int, Form(ge=1, le=100_000)] = 1
) -> Response:
    """The values the configuration schema allows for the key on the cursor's line, or else the keys
    it allows there."""
    return page(request, "admin/completion.html", completion_context(text, line, "rulesets"))


@router.post("/admin/rulesets/{name}/diff")
def diff(request: Request, name: str, _: ConsoleAdmin, session: SessionDep, text: TEXT) -> Response:
    data, problems = _validate(text)
    if not problems:
        # Both sides in the stored form (defaults filled in, one layout): only real changes show.
        candidate = parse_config({"rulesets": [data]}, source="editor").rulesets[0]
        text = ruleset_versions.as_yaml(config_repo.dump_model(candidate))
    lines = list(
        difflib.unified_diff(
            _active_yaml(session, name).splitlines(),
            text.splitlines(),
            fromfile=f"{name} (active)",
            tofile=f"{name} (editor)",
            lineterm="",
        )
    )
    return page(request, "admin/diff.html", {"lines": lines})


@router.post("/admin/rulesets/{name}/apply")
def apply(request: Request, name: str, principal: ConsoleAdmin, session: SessionDep, text: TEXT) -> Response:
    data, problems = _validate(text)
    message = None
    if not problems:
        try:
            change = config_edit.put_ruleset(session, name, data, actor=principal.actor)
            session.commit()
            message = f"ruleset {name}: {change.result}" + (
                f" (version {change.version})" if change.version else ""
            )
        except ConfigFileError as exc:
            session.rollback()
            problems = yaml_lines.problems(text, exc)
    return _history_panel(request, session, name, message, problems)


@router.post("/admin/rulesets/{name}/rollback")
def rollback(
    request: Request,
    name: str,
    principal: ConsoleAdmin,
    session: SessionDep,
    version: Annotated[int, Form(ge=1)],
) -> Response:
    result = ruleset_versions.rollback(session, name, version, actor=principal.actor)
    session.commit()
    message = (
        f"rolled back to version {result.restored} (now version {result.version})"
        if result.changed
        else f"version {result.restored} is already the active content"
    )
    return _history_panel(request, session, name, message, [], text=_active_yaml(session, name))


def _history_panel(
    request: Request,
    session: Any,
    name: str,
    message: str | None,
    problems: list[Any],
    text: str | None = None,
) -> Response:
    history = list(reversed(ruleset_versions.history(session, name)))
    context = {"name": name, "history": history, "message": message, "problems": problems, "text": text}
    return page(request, "admin/ruleset_result.html", context)


@router.get("/admin/rulesets/{name}/versions/{version}")
def show_version(request: Request, name: str, version: int, _: AdminPage, session: SessionDep) -> Response:
    history = ruleset_versions.history(session, name)
    previous = max((v.version for v in history if v.version < version), default=None)
    lines = ruleset_versions.diff(session, name, previous, version).splitlines() if previous else []
    return page(request, "admin/diff.html", {"lines": lines})


@router.post("/admin/rulesets/{name}/dry-run")
async def dry_run(
    request: Request,
    name: str,
    _: ConsoleAdmin,
    file: Annotated[UploadFile | None, File()] = None,
    instance_id: Annotated[str, Form(pattern="^[0-9]{0,18}$")] = "",
    text: Annotated[str, Form(max_length=500_000)] = "",
    use_editor: Annotated[str, Form(pattern="^(|on)$")] = "",
) -> Response:
    """The active version of this ruleset, or the editor's text, against an uploaded file or a
    recently received instance's stored header (nothing is sent or stored)."""
    secret = deployment_secret(request.app.state.settings)
    candidate = None
    if use_editor:
        data, problems = _validate(text)
        if problems:
            return page(request, "admin/dry_run.html", {"error": "fix the problems in the editor first"})
        candidate = parse_config({"rulesets": [data]}, source="editor").rulesets[0]
    sessions = request.app.state.sessions
    try:
        if instance_id:
            report = await run_in_threadpool(
                lambda: dry_run_stored(
                    sessions, int(instance_id), ruleset=name, candidate=candidate, anon_secret=secret
                )
            )
        elif file is not None and file.filename:
            source = (file.filename, file.file)
            if candidate is not None:
                report = await run_in_threadpool(
                    lambda: dry_run_candidate(sessions, source, candidate, anon_secret=secret)
                )
            else:
                (report,) = await run_in_threadpool(
                    lambda: dry_run_files(sessions, [source], ruleset=name, anon_secret=secret)
                )
        else:
            return page(request, "admin/dry_run.html", {"error": "choose a file or a recent instance"})
    except (UnreadableFile, UnknownRuleset, LookupError) as exc:
        return page(request, "admin/dry_run.html", {"error": str(exc), "report": None})
    return page(request, "admin/dry_run.html", {"error": None, "report": report})


@router.post("/admin/rulesets/{name}/replay")
async def replay_panel(
    request: Request,
    name: str,
    _: ConsoleAdmin,
    session: SessionDep,
    text: TEXT,
    days: Annotated[float, Form(gt=0, le=90)] = 1,
) -> Response:
    """The editor's ruleset against the headers received in the last ``days``: what would change
    (rules matched, destinations) next to what happened. Nothing is sent."""
    data, problems = _validate(text)
    if problems:
        return page(
            request, "admin/replay.html", {"error": "fix the problems in the editor first", "report": None}
        )
    config = parse_config({"rulesets": [data]}, source="editor")
    missing = config.undefined_destinations([d["name"] for d in dump_destinations(session)])
    if missing:
        return page(
            request, "admin/replay.html", {"error": "; ".join(why for _, why in missing), "report": None}
        )
    session.commit()
    try:
        report = await run_in_threadpool(
            lambda: replay(
                request.app.state.sessions,
                since=datetime.now(UTC) - timedelta(days=days),
                candidate=config.rulesets[0],
                ruleset_name=name,
            )
        )
    except ReplayInputError as exc:
        return page(request, "admin/replay.html", {"error": str(exc), "report": None})
    return page(request, "admin/replay.html", {"error": None, "report": report})
