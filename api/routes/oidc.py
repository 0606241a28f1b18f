"""/api/v1/auth/oidc: optional login through an OpenID Connect provider (docs/api.md#oidc-login).

``login`` redirects the browser to the provider; the provider sends it back to ``callback``, which
answers with an Axiom access token exactly like ``POST /api/v1/auth/login``. Both answer 404 while
OIDC is not configured.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.console.session import set_session
from api.routes.auth import TokenOut
from axiom.admin import oidc
from axiom.admin.auth import create_access_token

router = APIRouter(prefix="/api/v1/auth/oidc", tags=["auth"])

_COOKIE_PATH = "/api/v1/auth/oidc"
# Set by a login started from the console's sign-in page: the callback then signs the console in.
CONSOLE_COOKIE = "axiom_oidc_console"


def _client(request: Request) -> oidc.OidcClient:
    settings = request.app.state.settings
    if not oidc.enabled(settings):
        raise HTTPException(
            404,
            "OIDC login is not configured (set AXIOM_OIDC_ISSUER, AXIOM_OIDC_CLIENT_ID and "
            "AXIOM_OIDC_REDIRECT_URL)",
        )
    client: oidc.OidcClient | None = getattr(request.app.state, "oidc", None)
    if client is None:
        client = request.app.state.oidc = oidc.OidcClient(settings)
    return client


def _client_host(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login", response_class=RedirectResponse, status_code=302)
async def oidc_login(request: Request, console: bool = False) -> RedirectResponse:
    """Redirect to the provider's login (state, nonce and a PKCE S256 challenge); the flow's secrets
    go in a signed cookie valid for 10 minutes that only the callback reads. ``console=true``: the
    callback signs the web console in (its session cookie) and redirects to ``/`` instead of
    answering with a token."""
    client = _client(request)
    flow = oidc.Flow.new()
    try:
        url = await client.authorization_url(flow)
    except oidc.OidcError as exc:
        raise HTTPException(exc.status, exc.reason) from None
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        oidc.FLOW_COOKIE,
        flow.seal(request.app.state.jwt_secret),
        max_age=oidc.FLOW_MINUTES * 60,
        path=_COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.oidc_redirect_url.startswith("https://"),
    )
    if console:
        response.set_cookie(
            CONSOLE_COOKIE,
            "1",
            max_age=oidc.FLOW_MINUTES * 60,
            path=_COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.oidc_redirect_url.startswith("https://"),
        )
    return response


@router.get("/callback", response_model=TokenOut)
async def oidc_callback(
    request: Request,
    response: Response,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> TokenOut | Response:
    """Exchange the provider's code, check the ID token, and answer with an access token for the
    Axiom user of its verified email. Successes and refusals are audited."""
    client = _client(request)
    settings = request.app.state.settings
    host = _client_host(request)
    try:
        if error:
            raise oidc.OidcError(401, f"the OIDC provider answered {error[:100]}")
        sealed = request.cookies.get(oidc.FLOW_COOKIE)
        if not sealed:
            raise oidc.OidcError(400, "no login flow in progress; start at /api/v1/auth/oidc/login")
        flow = oidc.Flow.unseal(request.app.state.jwt_secret, sealed)
        if not state or state != flow.state:
            raise oidc.OidcError(400, "the state does not match this login flow; start again")
        if not code:
            raise oidc.OidcError(400, "the provider sent no code")
        claims = await client.verified_claims(flow, code)
    except oidc.OidcError as exc:
        failure = exc

        def audit_refusal() -> None:
            with request.app.state.sessions() as session:
                oidc.refused(session, failure, client=host)

        await run_in_threadpool(audit_refusal)
        raise HTTPException(exc.status, exc.reason) from None

    def sign_in() -> TokenOut:
        with request.app.state.sessions() as session:
            user = oidc.sign_in(session, settings, claims, client=host)
            token = create_access_token(
                request.app.state.jwt_secret, user, expire_minutes=settings.jwt_expire_minutes
            )
        return TokenOut(access_token=token.token, expires_in=token.expires_in)

    try:
        issued = await run_in_threadpool(sign_in)
    except oidc.OidcError as exc:
        raise HTTPException(exc.status, exc.reason) from None
    if request.cookies.get(CONSOLE_COOKIE):
        signed_in = RedirectResponse("/", status_code=303)
        set_session(request, signed_in, issued.access_token, issued.expires_in)
        for name in (oidc.FLOW_COOKIE, CONSOLE_COOKIE):
            signed_in.delete_cookie(name, path=_COOKIE_PATH)
        return signed_in
    response.delete_cookie(oidc.FLOW_COOKIE, path=_COOKIE_PATH)
    return issued
