"""Google Cloud Healthcare API DICOM store: the STOW-RS destination with Google credentials.

The DICOMweb root is composed from the configuration as
``<base_url>/projects/P/locations/L/datasets/D/dicomStores/S/dicomWeb``; everything else (batches,
per-instance results, classification) is the STOW-RS destination's. Credentials, in order: an explicit
access token (a secret, used as is), a service-account key (a secret holding its JSON or its file's
path; tokens are fetched and refreshed by google-auth), else Application Default Credentials.
google-auth is imported here only (``pip install 'axiom-router[healthcare]'``).
"""

from __future__ import annotations

from typing import ClassVar, Literal
from urllib.parse import quote

import requests
from pydantic import Field

from axiom.destinations.google_credentials import google_credentials
from axiom.destinations.stowrs import DICOMwebDeliveryBase, DICOMwebDestination
from axiom.domain.destinations import DestinationBase
from axiom.domain.secrets import SecretRef
from axiom.secrets import SecretError, resolve_secret

SCOPES = ("https://www.googleapis.com/auth/cloud-healthcare",)


class HealthcareDestinationConfig(DICOMwebDeliveryBase):
    """A Google Cloud Healthcare API DICOM store (STOW-RS with Google credentials)."""

    type: Literal["healthcare"] = "healthcare"
    project: str = Field(min_length=1)
    location: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    dicom_store: str = Field(min_length=1)
    base_url: str = Field(default="https://healthcare.googleapis.com/v1", pattern=r"^https?://[^\s]+$")
    # A service-account key (its JSON, or the path of its file); None: application default credentials.
    credentials: SecretRef | None = None
    # An access token used as is instead of credentials (short-lived: for tests and proxies).
    token: SecretRef | None = None


def dicomweb_root(config: HealthcareDestinationConfig) -> str:
    parts = {
        "projects": config.project,
        "locations": config.location,
        "datasets": config.dataset,
        "dicomStores": config.dicom_store,
    }
    path = "/".join(f"{key}/{quote(value, safe='')}" for key, value in parts.items())
    return f"{config.base_url.rstrip('/')}/{path}/dicomWeb"


class HealthcareDestination(DICOMwebDestination[HealthcareDestinationConfig]):
    kind: ClassVar[str] = "healthcare"
    config_model: ClassVar[type[DestinationBase]] = HealthcareDestinationConfig
    label: ClassVar[str] = "Healthcare API"

    def service_url(self) -> str:
        return dicomweb_root(self.config)

    def make_session(self) -> requests.Session:
        config = self.config
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
