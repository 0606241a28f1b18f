"""Dependencies shared by the routes, as Annotated aliases: the database session, the caller
(``CurrentUser``: user role or above) and the role a route needs (``IngestUser``, ``AdminUser``,
``SuperUser``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from axiom.admin.auth import API_KEY_PREFIX, authenticate_api_key, authenticate_token
from axiom.domain.auth import Principal, Role


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

# auto_error=False: a missing credential is answered below with 401 (FastAPI's default is 403).
_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/login")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def get_principal(
    request: Request,
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller, from ``Authorization: Bearer <jwt>`` or ``X-API-Key: <key>``; 401 otherwise."""
    principal = principal_from(
        session, request.app.state.jwt_secret, bearer.credentials if bearer else None, api_key
    )
    if isinstance(principal, str):
        raise _unauthorized(principal)
    return principal


def principal_from(session: Session, secret: str, bearer: str | None, api_key: str | None) -> Principal | str:
    """The caller for a bearer credential (a JWT, or an API key for scrapers that only send
    ``Authorization: Bearer``) or an ``X-API-Key``; else the reason it is refused."""
    if bearer is not None:
        if bearer.startswith(f"{API_KEY_PREFIX}_"):
            api_key = bearer
        else:
            principal = authenticate_token(session, secret, bearer)
            return principal if principal is not None else "invalid or expired access token"
    if api_key:
        principal = authenticate_api_key(session, api_key)
        if principal is None:
            return "invalid or revoked API key"
        session.commit()  # the key's last_used_at
        return principal
    return "credentials required: Authorization: Bearer <token> or X-API-Key: <key>"


# Any valid credential, the ingest role included: only for the routes that take ingest keys.
Authenticated = Annotated[Principal, Depends(get_principal)]


def require_role(role: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets through callers with ``role`` or a higher one (403 otherwise)."""

    def check(principal: Authenticated) -> Principal:
        if not principal.role.allows(role):
            raise HTTPException(403, f"this needs the role {role.value} (you have {principal.role.value})")
        return principal

    return check


def require_ingest(principal: Authenticated) -> Principal:
    """STOW-RS: an ``ingest`` key (store only), or an admin and above."""
    if principal.role is not Role.INGEST and not principal.role.allows(Role.ADMIN):
        raise HTTPException(403, f"storing needs the role ingest or admin (you have {principal.role.value})")
    return principal


# The user role or above: everything that reads (an ingest key reads nothing).
CurrentUser = Annotated[Principal, Depends(require_role(Role.USER))]
AdminUser = Annotated[Principal, Depends(require_role(Role.ADMIN))]
IngestUser = Annotated[Principal, Depends(require_ingest)]
SuperUser = Annotated[Principal, Depends(require_role(Role.SUPERUSER))]
