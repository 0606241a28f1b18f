"""The HTTP API application, built from Settings."""

from __future__ import annotations

from fastapi import FastAPI

from api.routes import health, monitoring, rules
from axiom.config import Settings
from axiom.db.session import create_db_engine, make_session_factory


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="Axiom", version="0.1.0")
    app.state.settings = settings
    app.state.sessions = make_session_factory(create_db_engine(settings.effective_database_url))
    app.include_router(health.router)
    app.include_router(monitoring.router)
    app.include_router(rules.router)
    return app
