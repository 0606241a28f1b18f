"""Google Cloud Healthcare API source: the DICOMweb source against a DICOM store's ``dicomWeb`` root,
authenticated with a Google bearer token (from an environment variable, or Application Default
Credentials through google-auth)."""

from __future__ import annotations

import os
from typing import ClassVar, Literal

import requests
from pydantic import Field

from axiom.domain.sources import ENV_NAME_PATTERN, SourceBase
from axiom.sources.base import SourceError
from axiom.sources.dicomweb import DICOMwebPoller

SCOPE = "https://www.googleapis.com/auth/cloud-healthcare"


class HealthcareSourceConfig(SourceBase):
    """A Google Cloud Healthcare API DICOM store, read over DICOMweb with a Google bearer token."""

    type: Literal["healthcare"] = "healthcare"
    project: str = Field(min_length=1)
    location: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    dicom_store: str = Field(min_length=1)
    # The API root; change it only for an emulator or a private endpoint.
    base_url: str = Field(default="https://healthcare.googleapis.com/v1", pattern=r"^https?://")
    # An environment variable holding an access token; None: Application Default Credentials
    # (google-auth must be installed).
    token_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN)

    @property
    def dicomweb_url(self) -> str:
        return (
            f"{self.base_url.rstrip('/')}/projects/{self.project}/locations/{self.location}"
            f"/datasets/{self.dataset}/dicomStores/{self.dicom_store}/dicomWeb"
        )


class HealthcareSource(DICOMwebPoller[HealthcareSourceConfig]):
    kind: ClassVar[str] = "healthcare"
    config_model: ClassVar[type[SourceBase]] = HealthcareSourceConfig

    def base_url(self) -> str:
        return self.config.dicomweb_url

    def http_session(self) -> requests.Session:
        if self.config.token_env:
            token = os.environ.get(self.config.token_env, "")
            if not token:
                raise SourceError(f"environment variable {self.config.token_env} holds no access token")
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            return session
        try:
            import google.auth
            from google.auth.transport.requests import AuthorizedSession
        except ImportError:
            raise SourceError(
                "set token_env, or install google-auth for Application Default Credentials"
            ) from None
        credentials, _ = google.auth.default(scopes=[SCOPE])
        return AuthorizedSession(credentials)
