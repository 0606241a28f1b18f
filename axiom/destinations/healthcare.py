"""Google Cloud Healthcare API DICOM store: the STOW-RS destination with Google credentials.

The DICOMweb root is composed from the configuration as
``<base_url>/projects/P/locations/L/datasets/D/dicomStores/S/dicomWeb``; everything else (batches,
per-instance results, classification) is the STOW-RS destination's. Credentials, in order: an explicit
access token (a secret, used as is), a service-account key (a secret holding its JSON or its file's
path; tokens are fetched and refreshed by google-auth), else Application Default Credentials.
google-auth is imported here only (``pip install 'axiom-router[healthcare]'``).
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

import requests

from axiom.config import Settings
from axiom.destinations.google_credentials import google_credentials
from axiom.destinations.stowrs import STOWRSDestination
from axiom.domain.destinations import DestinationBase, HealthcareDestinationConfig
from axiom.secrets import SecretError, resolve_secret

SCOPES = ("https://www.googleapis.com/auth/cloud-healthcare",)


def dicomweb_root(config: HealthcareDestinationConfig) -> str:
    parts = {
        "projects": config.project,
        "locations": config.location,
        "datasets": config.dataset,
        "dicomStores": config.dicom_store,
    }
    path = "/".join(f"{key}/{quote(value, safe='')}" for key, value in parts.items())
    return f"{config.base_url.rstrip('/')}/{path}/dicomWeb"


class HealthcareDestination(STOWRSDestination):
    kind: ClassVar[str] = "healthcare"
    config_model: ClassVar[type[DestinationBase]] = HealthcareDestinationConfig
    label: ClassVar[str] = "Healthcare API"

    def __init__(self, config: DestinationBase, settings: Settings) -> None:
        super().__init__(config, settings)
        assert isinstance(self.web_config, HealthcareDestinationConfig)
        self.hc_config: HealthcareDestinationConfig = self.web_config

    def service_url(self) -> str:
        assert isinstance(self.web_config, HealthcareDestinationConfig)
        return dicomweb_root(self.web_config)

    def make_session(self) -> requests.Session:
        config = self.hc_config
        if config.token is not None:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {resolve_secret(config.token, self.settings)}"
            return session
        try:
            from google.auth.transport.requests import AuthorizedSession
        except ImportError:
            raise SecretError(
                "google-auth is not installed (pip install 'axiom-router[healthcare]')"
            ) from None
        credentials = google_credentials(config.credentials, self.settings, SCOPES, "healthcare")
        authorized: requests.Session = AuthorizedSession(credentials)
        return authorized

    def request_failure(self, exc: Exception) -> tuple[str, bool, str] | None:
        try:
            from google.auth.exceptions import GoogleAuthError, RefreshError, TransportError
        except ImportError:
            return None
        if isinstance(exc, TransportError):
            return "cannot reach the token endpoint", True, "token-unreachable"
        if isinstance(exc, RefreshError):
            # google-auth marks the refusals worth retrying (rate limits, server errors).
            transient = bool(getattr(exc, "retryable", False))
            return "access token refused by the token endpoint", transient, "token-refused"
        if isinstance(exc, GoogleAuthError):
            return f"Google credentials failed ({type(exc).__name__})", False, "credentials"
        return None
