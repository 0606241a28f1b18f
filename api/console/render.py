"""Jinja2 rendering for the console: one environment, filters for times and statuses, and the
context every page gets (who is signed in, the CSRF token, whether admin links show)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.responses import Response

from axiom.domain.auth import PHI_ROLE, Principal, Role

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def _time(value: datetime | str | None) -> Markup:
    """A ``<time>`` element: UTC in the markup and on hover; console.js shows it in local time."""
    if value is None or value == "":
        return Markup("<span class='muted'>never</span>")
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    utc = value.astimezone(UTC)
    iso = utc.isoformat().replace("+00:00", "Z")
    text = utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup(f'<time datetime="{iso}" title="{text}">{text}</time>')


# Words beside the colour: status is never told by colour alone.
_BADGES = {
    "ok": "ok",
    "closed": "ok",
    "delivered": "ok",
    "processed": "ok",
    "resolved": "ok",
    "open": "warn",
    "half_open": "warn",
    "partial": "warn",
    "received": "info",
    "unknown": "muted",
    "dead": "bad",
    "failed": "bad",
    "quarantined": "bad",
    "discarded": "muted",
}


def _badge(value: object) -> Markup:
    text = str(value) if value is not None else "—"
    kind = _BADGES.get(text.lower(), "muted")
    icon = {"ok": "✓", "bad": "✗", "warn": "!", "info": "•"}.get(kind, "·")
    return Markup(
        f'<span class="badge badge-{kind}"><span aria-hidden="true">{icon}</span> {escape(text)}</span>'
    )


def _short_uid(value: str | None, keep: int = 14) -> Markup:
    """A long UID shortened to its tail, the whole UID in the tooltip and for screen readers."""
    if not value:
        return Markup("")
    if len(value) <= keep + 1:
        return Markup(f'<span class="uid">{escape(value)}</span>')
    return Markup(
        f'<span class="uid" title="{escape(value)}" aria-label="{escape(value)}">…{escape(value[-keep:])}</span>'
    )


templates.env.filters["time"] = _time
templates.env.filters["short_uid"] = _short_uid
templates.env.filters["badge"] = _badge


def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    principal: Principal | None = getattr(request.state, "principal", None)
    base = {
        "principal": principal,
        "csrf": getattr(request.state, "csrf", ""),
        "is_admin": principal is not None and principal.role.allows(Role.ADMIN),
        "shows_phi": principal is not None and principal.role.allows(PHI_ROLE),
        "is_super": principal is not None and principal.role.allows(Role.SUPERUSER),
        "path": request.url.path,
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)
