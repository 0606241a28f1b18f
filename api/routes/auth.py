"""/api/v1/auth: log in for an access token, and who am I."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from api.client_address import client_address
from api.deps import CurrentUser
from axiom.admin.auth import create_access_token, login
from axiom.admin.login_limits import LoginRateLimiter
from axiom.domain.auth import Role

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginIn(BaseModel):
    model_config = {"hide_input_in_errors": True}

    username: str
    password: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class MeOut(BaseModel):
    name: str
    kind: str
    role: Role


_LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginIn.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": LoginIn.model_json_schema()},
        },
    }
}


async def _credentials(request: Request) -> LoginIn:
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            data: Any = await request.json()
        else:
            data = dict(await request.form())
        return LoginIn.model_validate(data)
    except (ValueError, ValidationError):
        raise HTTPException(422, "send username and password as JSON or as a form") from None


@router.post("/login", response_model=TokenOut, openapi_extra=_LOGIN_BODY)
async def login_route(request: Request) -> TokenOut:
    """Exchange a username and password (JSON or form, as OAuth2's password flow sends them) for an
    access token. Repeated failures for one username from one client, or for many usernames from
    one client, answer 429 for at most the failure window."""
    creds = await _credentials(request)
    limiter: LoginRateLimiter = request.app.state.login_limiter
    settings = request.app.state.settings
    client = client_address(request, settings.api_trusted_proxies, settings.api_client_ip_header)
    key = (creds.username.lower(), client)
    wait = await run_in_threadpool(limiter.retry_after, key)
    if wait is not None:
        raise HTTPException(
            429, "too many failed logins; try again later", headers={"Retry-After": str(math.ceil(wait))}
        )

    def check() -> TokenOut | None:
        with request.app.state.sessions() as session:
            result = login(session, creds.username, creds.password, client=client)
        if result.user is None:
            return None
        token = create_access_token(
            request.app.state.jwt_secret, result.user, expire_minutes=settings.jwt_expire_minutes
        )
        return TokenOut(access_token=token.token, expires_in=token.expires_in)

    issued = await run_in_threadpool(check)
    if issued is None:
        await run_in_threadpool(limiter.record_failure, key)
        raise HTTPException(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
    await run_in_threadpool(limiter.reset, key)
    return issued


@router.get("/me", response_model=MeOut)
def me(principal: CurrentUser) -> MeOut:
    return MeOut(name=principal.name, kind=principal.kind, role=principal.role)
