"""schemathesis against the app's own OpenAPI schema: generated requests to every documented
operation (as a superuser, so they get past authentication) never get a 5xx. Kept short: a bounded
number of examples per operation, on SQLite."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from api.main import create_app
from axiom.admin.accounts import create_api_key
from axiom.config import Settings
from axiom.db.session import create_db_engine, make_session_factory, upgrade_database
from axiom.domain.auth import ApiKeyCreate, Role
from axiom.domain.messages import InstanceMessage


@schemathesis.serializer("multipart/related")
def _raw_body(ctx: Any, value: Any) -> bytes:
    """STOW-RS bodies go as generated: bytes (or text) that are rarely valid multipart."""
    return value if isinstance(value, bytes) else str(value).encode()


# Generated ids hit our own key (id 1) and would revoke it; their role tests live in test_auth.py.
REVOKES_THE_CREDENTIAL = {("DELETE", "/api/v1/auth/api-keys/{key_id}")}


class _DiscardingPublisher:
    def publish_instance(self, message: InstanceMessage) -> None:
        return None


@pytest.fixture(scope="module")
def _app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    data = Path(tmp_path_factory.mktemp("schemathesis"))
    config = Settings(data_dir=data, login_max_failures=1000)
    config.ensure_dirs()
    upgrade_database(config.effective_database_url)
    engine = create_db_engine(config.effective_database_url)
    with make_session_factory(engine)() as session:
        key = create_api_key(
            session, ApiKeyCreate(name="fuzz", role=Role.SUPERUSER), actor="test", creator_role=Role.SUPERUSER
        ).key
        session.commit()
    engine.dispose()
    return create_app(config, publisher=_DiscardingPublisher()), {"X-API-Key": key}


def test_no_server_errors(_app: tuple[Any, dict[str, str]]) -> None:
    app, headers = _app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        if (operation.method.upper(), operation.path) in REVOKES_THE_CREDENTIAL:
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case: Any) -> None:
            # The generated credentials (random bearer tokens) are replaced by a real one.
            case.headers = {
                k: v
                for k, v in (case.headers or {}).items()
                if k.lower() not in ("authorization", "x-api-key")
            }
            response = case.call(headers=headers)
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
                )

        run()
    assert operations >= 30 and sum(statuses.values()) >= 3 * operations
    # Past authentication: both successes and validation refusals were reached.
    assert statuses[200] and statuses[422], statuses
    assert not failures, "\n".join(failures[:20])
