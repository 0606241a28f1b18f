"""Login limits over the real app behind a proxy and across two replicas sharing Redis: the client is
the proxy's X-Forwarded-For only when the request comes from a trusted proxy."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from axiom.config import Settings
from axiom.db.session import create_db_engine, make_session_factory, upgrade_database
from axiom.domain.auth import Role, UserCreate
from axiom.services.accounts import create_user
from tests.unit.services.conftest import redis_url

__all__ = ["redis_url"]

LOGIN = "/api/v1/auth/login"
PROXY = ("10.1.0.7", 40000)
ROOT_PASSWORD = "root-password-1"


def _fail(client: TestClient, forwarded: str, user: str = "root") -> int:
    body = {"username": user, "password": "wrong"}
    return client.post(LOGIN, json=body, headers={"X-Forwarded-For": forwarded}).status_code


def test_limits_follow_the_forwarded_client_and_are_shared_by_replicas(
    tmp_path: Path, redis_url: str
) -> None:
    configured = Settings(
        data_dir=tmp_path / "data",
        cache_url=redis_url,
        api_trusted_proxies=["10.1.0.0/24"],
        login_max_failures=3,
        login_spray_max_failures=5,
    )
    upgrade_database(configured.effective_database_url)
    engine = create_db_engine(configured.effective_database_url)
    with make_session_factory(engine)() as session:
        create_user(
            session, UserCreate(username="root", password=ROOT_PASSWORD, role=Role.USER), actor="test"
        )
        session.commit()
    engine.dispose()
    one = TestClient(create_app(configured), client=PROXY)
    two = TestClient(create_app(configured), client=PROXY)
    # Three failures for root from 203.0.113.5, through either replica behind the proxy.
    assert [_fail(c, "203.0.113.5, 10.1.0.9") for c in (one, two, one)] == [401] * 3
    right = {"username": "root", "password": ROOT_PASSWORD}
    assert two.post(LOGIN, json=right, headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 429
    # Another client behind the same proxy is not blocked: the right password gets in.
    assert one.post(LOGIN, json=right, headers={"X-Forwarded-For": "198.51.100.4"}).status_code == 200

    # Spraying: five failures over five user names from one client blocks that client for all names.
    assert [_fail(two, "192.0.2.8", f"user{i}") for i in range(5)] == [401] * 5
    assert _fail(one, "192.0.2.8", "someone-else") == 429

    # A client that is not a trusted proxy cannot pick its address with the header.
    direct = TestClient(create_app(configured), client=("198.51.100.66", 5000))
    assert [_fail(direct, f"172.16.0.{i}") for i in range(3)] == [401] * 3
    assert _fail(direct, "172.16.0.99") == 429
