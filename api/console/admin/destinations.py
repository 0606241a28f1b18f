"""Destinations for admins: list with health, create or edit as YAML (validated by the same models
as ``axiom apply``), enable or disable, and *test* (C-ECHO, an authenticated QIDO-RS request, a
write probe) with the peer's answer shown."""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.console import yaml_lines
from api.console.completion import completion_context
from api.console.render import page
from api.console.session import AdminPage, ConsoleAdmin
from api.deps import SessionDep
from axiom.admin import config_edit
from axiom.admin.apply_config import ConfigFileError
from axiom.admin.config_dump import dump_destinations
from axiom.admin.destination_check import check_destination
from axiom.db.repositories import config as config_repo

router = APIRouter(include_in_schema=False)
NAME = Annotated[str, Form(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

NEW_TEMPLATE = """\
name: new-pacs
type: cstore          # cstore, stowrs, healthcare, gcs, filesystem
host: 127.0.0.1
port: 104
ae_title: PACS
calling_ae_title: AXIOM
"""


def _list(request: Request, session: Any, **extra: Any) -> Response:
    items = [config_edit.mask_secrets(d) for d in dump_destinations(session)]
    return page(request, "admin/destinations.html", {"items": items, **extra})


@router.get("/admin/destinations")
def destinations(request: Request, _: AdminPage, session: SessionDep) -> Response:
    return _list(request, session)


@router.get("/admin/destinations/edit")
def edit_form(request: Request, _: AdminPage, session: SessionDep, name: str = "") -> Response:
    text = NEW_TEMPLATE
    if name:
        text = yaml.safe_dump(
            config_edit.mask_secrets(config_edit.get_destination(session, name)), sort_keys=False
        )
    return page(request, "admin/destination_edit.html", {"name": name, "text": text, "problems": []})


@router.post("/admin/destinations/complete")
def complete(
    request: Request,
    _: ConsoleAdmin,
    text: Annotated[str, Form(max_length=500_000)],
    line: Annotated[int, Form(ge=1, le=100_000)] = 1,
) -> Response:
    """The values the configuration schema allows for the key on the cursor's line, or its keys."""
    return page(request, "admin/completion.html", completion_context(text, line, "destinations"))


@router.post("/admin/destinations/save")
def save(
    request: Request,
    principal: ConsoleAdmin,
    session: SessionDep,
    text: Annotated[str, Form(max_length=100_000)],
) -> Response:
    data, problems = yaml_lines.parse(text)
    if not problems and not isinstance(data, dict):
        problems = [yaml_lines.Problem(1, "", "a destination is a mapping of fields (name, type, ...)")]
    if not problems and config_edit.MASK in yaml.safe_dump(data):
        problems = [
            yaml_lines.Problem(None, "", "replace the masked value with the credential (or a {secret: NAME})")
        ]
    if not problems:
        try:
            change = config_edit.put_destination(
                session, str(data.get("name", "")), data, actor=principal.actor
            )
            session.commit()
            return _list(request, session, message=f"destination {change.name}: {change.result}")
        except ConfigFileError as exc:
            session.rollback()
            problems = yaml_lines.problems(text, exc)
    context = {
        "name": data.get("name", "") if isinstance(data, dict) else "",
        "text": text,
        "problems": problems,
    }
    return page(request, "admin/destination_edit.html", context, status_code=422)


@router.post("/admin/destinations/toggle")
def toggle(request: Request, principal: ConsoleAdmin, session: SessionDep, name: NAME) -> Response:
    body = config_edit.get_destination(session, name)
    body["enabled"] = not body.get("enabled", True)
    change = config_edit.put_destination(session, name, body, actor=principal.actor)
    session.commit()
    state = "enabled" if body["enabled"] else "disabled"
    return _list(request, session, message=f"destination {change.name}: {state}")


@router.post("/admin/destinations/test")
async def test(request: Request, _: ConsoleAdmin, session: SessionDep, name: NAME) -> Response:
    """Runs in this API process, as an admin pressing the button expects an answer now."""
    configs = config_repo.load_destination_configs(session)
    if name not in configs:
        return page(
            request,
            "admin/test_result.html",
            {"ok": False, "message": f"no destination {name!r}", "name": name},
        )
    result = await run_in_threadpool(check_destination, configs[name], request.app.state.settings)
    context = {"ok": result.ok, "message": result.message, "seconds": result.seconds, "name": name}
    return page(request, "admin/test_result.html", context)
