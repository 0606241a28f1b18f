"""Google Cloud Healthcare API source: the DICOMweb source against a DICOM store's ``dicomWeb`` root,
authenticated with a Google bearer token (from an environment variable, or Application Default
Credentials through google-auth)."""

from __future__ import annotations

import os
from typing import ClassVar

import requests

from axiom.domain.sources import HealthcareSourceConfig, SourceBase
from axiom.sources.base import SourceError
from axiom.sources.dicomweb import DicomwebSource

SCOPE = "https://www.googleapis.com/auth/cloud-healthcare"


class HealthcareSource(DicomwebSource):
    kind: ClassVar[str] = "healthcare"
    config_model: ClassVar[type[SourceBase]] = HealthcareSourceConfig

    def base_url(self) -> str:
        assert isinstance(self.config, HealthcareSourceConfig)
        return self.config.dicomweb_url

    def http_session(self) -> requests.Session:
        assert isinstance(self.config, HealthcareSourceConfig)
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
