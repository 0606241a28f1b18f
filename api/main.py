"""The HTTP API application, built from Settings. Every route but /health needs a credential."""

from __future__ import annotations

from collections import Counter

from fastapi import FastAPI

from api.client_address import trusted_networks
from api.console import mount_console
from api.correlation import CorrelationIdMiddleware
from api.errors import install_error_handlers
from api.ingest import IngestPortsFactory
from api.routes import (
    anonymize,
    api_keys,
    auth,
    crosswalks,
    destinations,
    dicomweb,
    exception_bulk,
    exceptions,
    health,
    monitoring,
    oidc,
    rules,
    rulesets,
    sources,
    study_search,
    users,
)
from api.routes.config_common import document_bodies
from axiom.admin.auth import jwt_secret
from axiom.admin.login_limits import make_login_limiter
from axiom.config import Settings
from axiom.db.session import create_db_engine, make_session_factory
from axiom.pipeline.ports import TaskPublisher


def create_app(settings: Settings, publisher: TaskPublisher | None = None) -> FastAPI:
    """The app; ``publisher`` replaces the Celery one STOW-RS publishes with (built on first use)."""
    app = FastAPI(title="Axiom", version="0.1.0")
    app.state.settings = settings
    app.state.ingest_ports = IngestPortsFactory(settings, publisher)
    app.state.websocket_connections = Counter()  # principal -> open event streams
    app.state.jwt_secret = jwt_secret(settings)  # a weak secret stops the start before anything opens
    app.state.sessions = make_session_factory(create_db_engine(settings.effective_database_url))
    trusted_networks(tuple(settings.api_trusted_proxies))  # a wrong entry stops the start here
    app.state.login_limiter = make_login_limiter(
        settings.login_max_failures,
        settings.login_failure_window_seconds,
        settings.login_spray_max_failures,
        settings.cache_url,
    )
    install_error_handlers(app)
    app.add_middleware(CorrelationIdMiddleware)
    for module in (
        health,
        auth,
        oidc,
        api_keys,
        users,
        monitoring,
        study_search,
        exception_bulk,
        exceptions,
        anonymize,
        rules,
        destinations,
        rulesets,
        crosswalks,
        sources,
        dicomweb,
    ):
        app.include_router(module.router)
    document_bodies(app)
    mount_console(app)
    return app
