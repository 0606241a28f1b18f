"""Google credentials for the cloud destinations, from a secret reference (google-auth imported lazily)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from axiom.config import Settings
from axiom.domain.secrets import SecretRef
from axiom.secrets import SecretError, resolve_secret


def service_account_credentials(key: str, scopes: Sequence[str]) -> Any:
    """Credentials from a service-account key: its JSON text, or the path of its file."""
    from google.oauth2 import service_account

    text = key.strip()
    if text.startswith("{"):
        return service_account.Credentials.from_service_account_info(json.loads(text), scopes=list(scopes))
    return service_account.Credentials.from_service_account_file(
        str(Path(text).expanduser()), scopes=list(scopes)
    )


def google_credentials(ref: SecretRef | None, settings: Settings, scopes: Sequence[str], extra: str) -> Any:
    """The service-account key named by ``ref``, else Application Default Credentials.

    Raises SecretError, whose message names the secret or the kind of failure, never key material;
    ``extra`` names the package extra that installs google-auth.
    """
    try:
        import google.auth
        from google.auth.exceptions import GoogleAuthError
    except ImportError:
        raise SecretError(f"google-auth is not installed (pip install 'axiom-router[{extra}]')") from None
    try:
        if ref is not None:
            return service_account_credentials(resolve_secret(ref, settings), scopes)
        credentials, _ = google.auth.default(scopes=list(scopes))
        return credentials
    except (GoogleAuthError, ValueError, KeyError, OSError) as exc:
        # Their messages can quote the key file; name the kind of failure only.
        raise SecretError(f"Google credentials unusable ({type(exc).__name__})") from None
