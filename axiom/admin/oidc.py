"""Optional OIDC login (Google or any OpenID Connect provider): the authorization code flow with
state, nonce and PKCE (S256) through Authlib's OAuth 2 client, the ID token checked with joserfc
(Authlib's JOSE library) against the provider's JWKS (signature, issuer, audience, nonce, expiry),
and the verified email mapped to an Axiom user.

The email must be verified (``email_verified: true``; a token that does not say is refused), and a
login is never linked to an existing admin or superuser account unless the OIDC login created that
account: otherwise whoever controls a mailbox of that name at the provider (or a provider that lets
users pick their email) would become that administrator.

Off unless ``AXIOM_OIDC_ISSUER``, ``AXIOM_OIDC_CLIENT_ID`` and ``AXIOM_OIDC_REDIRECT_URL`` are set.
The flow's secrets (state, nonce, code verifier) travel in a short-lived cookie signed with the
API's JWT secret, so the API keeps no session state between the redirect and the callback.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import ValidationError
from sqlalchemy.orm import Session

from axiom.admin.accounts import create_user
from axiom.config import Settings
from axiom.db.models import User
from axiom.db.repositories import audit as audit_repo
from axiom.db.repositories import auth as auth_repo
from axiom.domain.auth import Role, UserCreate

FLOW_COOKIE = "axiom_oidc"
FLOW_MINUTES = 10
_FLOW_AUDIENCE = "axiom-oidc-flow"
_FLOW_ALGORITHM = "HS256"
# Asymmetric algorithms only: an ID token signed with HS256 (or "none") is refused.
_ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
_LEEWAY_SECONDS = 60
_HTTP_TIMEOUT = 10.0


class OidcError(Exception):
    """A refused login; ``status`` is the HTTP status, the message the reason (no secrets)."""

    def __init__(self, status: int, reason: str, email: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.email = email


def enabled(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id and settings.oidc_redirect_url)


def discovery_url(settings: Settings) -> str:
    return settings.oidc_discovery_url or (
        settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
    )


@dataclass(frozen=True)
class Flow:
    """What the callback must see again: the state, the nonce and the PKCE code verifier."""

    state: str
    nonce: str
    code_verifier: str

    def seal(self, secret: str, now: datetime | None = None) -> str:
        issued = now or datetime.now(UTC)
        claims = {
            "aud": _FLOW_AUDIENCE,
            "exp": issued + timedelta(minutes=FLOW_MINUTES),
            "state": self.state,
            "nonce": self.nonce,
            "cv": self.code_verifier,
        }
        return jwt.encode(claims, secret, algorithm=_FLOW_ALGORITHM)

    @classmethod
    def unseal(cls, secret: str, sealed: str) -> Flow:
        try:
            claims = jwt.decode(sealed, secret, algorithms=[_FLOW_ALGORITHM], audience=_FLOW_AUDIENCE)
            return cls(state=claims["state"], nonce=claims["nonce"], code_verifier=claims["cv"])
        except (jwt.PyJWTError, KeyError):
            raise OidcError(400, "the login flow expired or was tampered with; start again") from None

    @classmethod
    def new(cls) -> Flow:
        return cls(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(48),
        )


class OidcClient:
    """The provider's endpoints (from its discovery document, fetched once) and the flow's two legs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._metadata: dict[str, Any] | None = None

    def _client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.settings.oidc_client_id,
            client_secret=self.settings.oidc_client_secret.get_secret_value() or None,
            scope="openid email profile",
            redirect_uri=self.settings.oidc_redirect_url,
            code_challenge_method="S256",
            timeout=_HTTP_TIMEOUT,
        )

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT) as http:
                try:
                    response = await http.get(discovery_url(self.settings))
                    response.raise_for_status()
                    metadata: dict[str, Any] = response.json()
                except Exception as exc:
                    raise OidcError(502, f"the OIDC provider's discovery document failed: {exc}") from None
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not metadata.get(key):
                    raise OidcError(502, f"the OIDC provider's discovery document has no {key}")
            self._metadata = metadata
        return self._metadata

    async def authorization_url(self, flow: Flow) -> str:
        metadata = await self.metadata()
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=flow.state,
                nonce=flow.nonce,
                code_verifier=flow.code_verifier,
            )
        return str(url)

    async def verified_claims(self, flow: Flow, code: str) -> dict[str, Any]:
        """Exchange the code (with the PKCE verifier) and return the ID token's checked claims."""
        metadata = await self.metadata()
        async with self._client() as client:
            try:
                token = await client.fetch_token(
                    metadata["token_endpoint"], code=code, code_verifier=flow.code_verifier
                )
            except Exception as exc:
                raise OidcError(401, f"the OIDC provider refused the code: {exc}") from None
            id_token = token.get("id_token")
            if not id_token:
                raise OidcError(401, "the OIDC provider returned no ID token")
        async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT) as http:
            try:
                response = await http.get(metadata["jwks_uri"])
                response.raise_for_status()
                keys = KeySet.import_key_set(response.json())
            except Exception as exc:
                raise OidcError(502, f"the OIDC provider's JWKS failed: {exc}") from None
        issuer = metadata.get("issuer") or self.settings.oidc_issuer
        if issuer.rstrip("/") != self.settings.oidc_issuer.rstrip("/"):
            raise OidcError(502, f"the discovery document names another issuer ({issuer})")
        client_id = self.settings.oidc_client_id
        try:
            claims = jose_jwt.decode(id_token, keys, algorithms=_ID_TOKEN_ALGORITHMS).claims
            jose_jwt.JWTClaimsRegistry(
                leeway=_LEEWAY_SECONDS,
                iss={"essential": True, "value": issuer},
                aud={"essential": True, "value": client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": flow.nonce},
            ).validate(claims)
        except (JoseError, ValueError) as exc:
            raise OidcError(401, f"the ID token is not valid: {exc}") from None
        audience = claims["aud"]
        # OIDC Core 3.1.3.7: with several audiences, the authorized party must be this client.
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
            raise OidcError(401, "the ID token is not valid: azp is not this client")
        return dict(claims)


def verified_email(claims: dict[str, Any]) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise OidcError(401, "the ID token has no email (ask for the email scope)")
    # The provider must say it verified the address; one that does not say is not trusted either.
    # ("true" as text: some providers send the claim as a string.)
    verified = claims.get("email_verified")
    if verified is not True and verified != "true":
        said = "does not say it verified" if verified is None else "has not verified"
        raise OidcError(403, f"the provider {said} this email (email_verified must be true)", email.lower())
    return email.strip().lower()


# The password hash of an account the OIDC login created: not an argon2 hash, so no password ever
# matches it (the account signs in through the provider only), and the mark that the account is
# OIDC's own (see _user_for).
OIDC_ONLY_PASSWORD = "!oidc-only"


def created_for_oidc(session: Session, user: User) -> bool:
    """Whether the OIDC login created this account: its mark, or (accounts created before the mark)
    its latest ``user.created`` audit row written by the OIDC login."""
    if user.password_hash == OIDC_ONLY_PASSWORD:
        return True
    return audit_repo.created_by_prefix(session, f"user:{user.username}", "oidc:")


def sign_in(session: Session, settings: Settings, claims: dict[str, Any], *, client: str) -> User:
    """The Axiom user for the ID token's verified email: an existing user named by the email, or
    one created with ``oidc_default_role`` when ``oidc_auto_create`` allows it. Audits the login
    (``auth.oidc_login``) or the refusal (``auth.oidc_login_refused``) and commits."""
    try:
        email = verified_email(claims)
        user = _user_for(session, settings, email)
    except OidcError as exc:
        session.rollback()
        refused(session, exc, client=client)
        raise
    audit_repo.add_audit(
        session,
        actor=user.username,
        action="auth.oidc_login",
        target=f"user:{user.username}"[:256],
        details={"client": client, "issuer": settings.oidc_issuer},
    )
    session.commit()
    return user


def refused(session: Session, error: OidcError, *, client: str) -> None:
    """The audit row of a refused OIDC login. Commits."""
    audit_repo.add_audit(
        session,
        actor="anonymous",
        action="auth.oidc_login_refused",
        target=f"user:{error.email}"[:256] if error.email else "oidc",
        details={"client": client, "reason": error.reason[:500]},
    )
    session.commit()


def _user_for(session: Session, settings: Settings, email: str) -> User:
    domain = email.rsplit("@", 1)[1]
    allowed = {d.strip().lower().lstrip("@") for d in settings.oidc_allowed_domains if d.strip()}
    if allowed and domain not in allowed:
        raise OidcError(403, f"the email domain {domain} is not allowed", email)
    user = auth_repo.get_user_by_username(session, email)
    if user is not None:
        if not user.active:
            raise OidcError(403, "this user is deactivated", email)
        if user.role.allows(Role.ADMIN) and not created_for_oidc(session, user):
            raise OidcError(
                403,
                f"the existing {user.role.value} account of this email was not created for OIDC "
                "login; it signs in with its password",
                email,
            )
        return user
    if not settings.oidc_auto_create:
        raise OidcError(403, "no Axiom user for this email, and OIDC auto-creation is off", email)
    # The password is random and never shown: such a user signs in through the provider only.
    try:
        data = UserCreate(username=email, password=secrets.token_urlsafe(32), role=settings.oidc_default_role)
    except ValidationError:
        raise OidcError(
            403, "this email cannot be an Axiom username (letters, digits, _ . @ -)", email
        ) from None
    user = create_user(session, data, actor=f"oidc:{settings.oidc_issuer}"[:128])
    user.password_hash = OIDC_ONLY_PASSWORD
    return user


__all__ = [
    "FLOW_COOKIE",
    "FLOW_MINUTES",
    "OIDC_ONLY_PASSWORD",
    "Flow",
    "OidcClient",
    "OidcError",
    "created_for_oidc",
    "discovery_url",
    "enabled",
    "refused",
    "sign_in",
    "verified_email",
]
