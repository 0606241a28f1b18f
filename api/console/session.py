"""The console's sign-in session: an HttpOnly cookie holding the same access token the API issues
(``POST /api/v1/auth/login``), and a CSRF token derived from it for every state-changing request.

The principal comes from ``authenticate_token``, so a deactivated user or a changed role applies on
the next page, exactly as for API callers; roles are checked by ``require`` like ``api.deps``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request, Response
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from api.deps import SessionDep
from axiom.admin.auth import authenticate_token
from axiom.domain.auth import Principal, Role

COOKIE = "axiom_session"
# Before sign-in: a random value the login form must echo (double-submit), against login CSRF.
PRE_COOKIE = "axiom_login_csrf"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """Raised by the page dependencies; answered with a redirect to /login (or 401 for htmx)."""


def secure_cookies(request: Request) -> bool:
    return request.url.scheme == "https" or bool(request.app.state.settings.api_tls_cert)


def set_session(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )
    response.delete_cookie(PRE_COOKIE, path="/")


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def login_csrf(request: Request) -> str:
    """The pre-session CSRF value for the login form (reused while its cookie lives)."""
    return request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)


def remember_login_csrf(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        PRE_COOKIE, value, max_age=3600, httponly=True, samesite="strict", secure=secure_cookies(request)
    )


def csrf_for(request: Request, token: str) -> str:
    secret = request.app.state.jwt_secret.encode()
    return hmac.new(secret, b"console-csrf:" + token.encode(), hashlib.sha256).hexdigest()


def principal_of(session: Session, request: HTTPConnection) -> Principal | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return authenticate_token(session, request.app.state.jwt_secret, token)


def _page_user(request: Request, session: SessionDep) -> Principal:
    principal = principal_of(session, request)
    # End the read: on SQLite an open transaction holds the write lock the page's own work may need.
    session.commit()
    if principal is None:
        raise SignInRequired()
    if not principal.role.allows(Role.USER):
        raise HTTPException(403, "the console needs the role user or above (an ingest account only stores)")
    request.state.principal = principal
    request.state.csrf = csrf_for(request, request.cookies[COOKIE])
    return principal


ConsoleUser = Annotated[Principal, Depends(_page_user)]


def require(role: Role) -> Callable[[Principal], Principal]:
    """A page dependency: signed in with ``role`` or higher, else 403 (the page says why)."""

    def check(principal: ConsoleUser) -> Principal:
        if not principal.role.allows(role):
            raise HTTPException(
                403, f"this page needs the role {role.value} (you have {principal.role.value})"
            )
        return principal

    return check


async def check_csrf(request: Request, principal: ConsoleUser, csrf: Annotated[str, Form()] = "") -> None:
    """Every state-changing console request carries the token as a form field or an htmx header."""
    sent = csrf or request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent, request.state.csrf):
        raise HTTPException(403, "the form's CSRF token is missing or stale; reload the page")


def _acting(role: Role) -> Callable[..., Principal]:
    """A signed-in caller with ``role`` or higher whose request carries the CSRF token."""
    allowed = require(role)

    def check(principal: Principal = Depends(allowed), _: None = Depends(check_csrf)) -> Principal:
        return principal

    return check


UserAction = Annotated[Principal, Depends(_acting(Role.USER))]
ConsoleAdmin = Annotated[Principal, Depends(_acting(Role.ADMIN))]
ConsoleSuper = Annotated[Principal, Depends(_acting(Role.SUPERUSER))]
AdminPage = Annotated[Principal, Depends(require(Role.ADMIN))]
SuperPage = Annotated[Principal, Depends(require(Role.SUPERUSER))]
