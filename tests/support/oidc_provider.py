"""A small local OpenID Connect provider (FastAPI on uvicorn) for the OIDC login tests.

It serves a discovery document, a JWKS with an RSA key generated per instance, an authorize endpoint
that redirects straight back with a code (the user "logs in" as ``email``), and a token endpoint that
checks the client secret, the redirect URI and the PKCE verifier before returning an RS256 ID token.
``spoil`` spoils the next ID token (audience, issuer, nonce, signing key, expiry) for refusal tests.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.app_server import AppServer
from tests.support.fake_openai import free_port


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str
    email: str


@dataclass
class Spoil:
    """What to get wrong in the next ID token."""

    audience: str | None = None
    issuer: str | None = None
    nonce: str | None = None
    other_key: bool = False
    expired: bool = False


@dataclass
class TokenRequest:
    client_id: str
    pkce_ok: bool
    fields: dict[str, str] = field(default_factory=dict)


class FakeOidcProvider(AppServer):
    name = "fake OIDC provider"

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.port = free_port()
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})
        # Same kid, another key: a token signed with it must fail the signature check.
        self.rogue_key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "alg": "RS256"})
        self.email = "alice@example.org"
        self.email_verified: bool | str | None = True
        self.spoil = Spoil()
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[TokenRequest] = []
        self._grants: dict[str, _Grant] = {}
        self.app = self._build()
        self._serve(self.app)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return {"keys": [self.key.as_dict(private=False)]}

        @app.get("/authorize")
        def authorize(request: Request) -> RedirectResponse:
            params = dict(request.query_params)
            self.authorize_requests.append(params)
            if params.get("client_id") != self.client_id or params.get("response_type") != "code":
                raise HTTPException(400, "bad client or response type")
            if "openid" not in params.get("scope", "").split():
                raise HTTPException(400, "openid scope missing")
            if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
                raise HTTPException(400, "PKCE S256 required")
            code = secrets.token_urlsafe(16)
            self._grants[code] = _Grant(
                client_id=params["client_id"],
                redirect_uri=params["redirect_uri"],
                nonce=params.get("nonce"),
                challenge=params["code_challenge"],
                email=self.email,
            )
            query = urlencode({"code": code, "state": params.get("state", "")})
            return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=302)

        @app.post("/token")
        def token(
            request: Request,
            grant_type: str = Form(),
            code: str = Form(),
            redirect_uri: str = Form(),
            code_verifier: str = Form(""),
            client_id: str = Form(""),
            client_secret: str = Form(""),
        ) -> dict[str, Any]:
            auth = request.headers.get("authorization", "")
            if auth.startswith("Basic "):
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            grant = self._grants.pop(code, None)  # a code works once
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            pkce_ok = grant is not None and secrets.compare_digest(challenge, grant.challenge)
            self.token_requests.append(
                TokenRequest(client_id=client_id, pkce_ok=pkce_ok, fields={"grant_type": grant_type})
            )
            if client_id != self.client_id or client_secret != self.client_secret:
                raise HTTPException(401, "invalid_client")
            if grant is None or grant_type != "authorization_code" or redirect_uri != grant.redirect_uri:
                raise HTTPException(400, "invalid_grant")
            if not pkce_ok:
                raise HTTPException(400, "invalid_grant: PKCE verifier does not match")
            return {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": self._id_token(grant),
            }

        return app

    def _id_token(self, grant: _Grant) -> str:
        spoil, self.spoil = self.spoil, Spoil()
        now = int(time.time()) - (7200 if spoil.expired else 0)
        claims: dict[str, Any] = {
            "iss": spoil.issuer or self.issuer,
            "sub": hashlib.sha256(grant.email.encode()).hexdigest()[:20],
            "aud": spoil.audience or grant.client_id,
            "iat": now,
            "exp": now + 600,
            "email": grant.email,
        }
        if self.email_verified is not None:  # None: a provider that does not say
            claims["email_verified"] = self.email_verified
        nonce = spoil.nonce or grant.nonce
        if nonce is not None:
            claims["nonce"] = nonce
        key = self.rogue_key if spoil.other_key else self.key
        return jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, key)
