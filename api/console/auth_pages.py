"""Sign in and out: the password form (the same ``login`` service and rate limiter as
``POST /api/v1/auth/login``, audited the same way) and the session cookie it sets."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.console import session as console_session
from api.console.render import page
from axiom.admin.auth import LoginRateLimiter, create_access_token, login
from axiom.db.repositories import audit as audit_repo

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    """Only a path of this site: never a redirect elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _form(request: Request, error: str | None = None, next_: str = "/", status: int = 200) -> Response:
    token = console_session.login_csrf(request)
    context = {
        "error": error,
        "next": _safe_next(next_),
        "oidc": bool(request.app.state.settings.oidc_issuer),
        "login_csrf": token,
    }
    response = page(request, "login.html", context, status_code=status)
    console_session.remember_login_csrf(request, response, token)
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    return _form(request, next_=next)


@router.post("/login")
async def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    expected = request.cookies.get(console_session.PRE_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf, expected):
        return _form(request, "The form expired; please sign in again.", next, status=403)
    limiter: LoginRateLimiter = request.app.state.login_limiter
    client = request.client.host if request.client else "unknown"
    key = (username.lower(), client)
    if limiter.retry_after(key) is not None:
        return _form(request, "Too many failed sign-ins; try again later.", next, status=429)

    def check() -> tuple[str, int] | None:
        with request.app.state.sessions() as session:
            result = login(session, username, password, client=client)
        if result.user is None:
            return None
        settings = request.app.state.settings
        token = create_access_token(
            request.app.state.jwt_secret, result.user, expire_minutes=settings.jwt_expire_minutes
        )
        return token.token, token.expires_in

    issued = await run_in_threadpool(check)
    if issued is None:
        limiter.record_failure(key)
        return _form(request, "Wrong username or password.", next, status=401)
    limiter.reset(key)
    response = RedirectResponse(_safe_next(next), status_code=303)
    console_session.set_session(request, response, *issued)
    return response


@router.post("/logout")
def logout(request: Request, principal: console_session.UserAction) -> Response:
    def record() -> None:
        with request.app.state.sessions() as session:
            audit_repo.add_audit(
                session, actor=principal.actor, action="auth.logout", target=f"user:{principal.name}"
            )
            session.commit()

    record()
    response = RedirectResponse("/login", status_code=303)
    console_session.clear_session(response)
    return response
