"""Login limits over the real app behind a proxy and across two replicas sharing Redis: the client is
the proxy's X-Forwarded-For only when the request comes from a trusted proxy."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from axiom.admin.accounts import create_user
from axiom.config import Settings
from axiom.db.session import create_db_engine, make_session_factory, upgrade_database
from axiom.domain.auth import Role, UserCreate
from tests.unit.conftest import redis_url

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
        login_max_failures=1,
        login_spray_max_failures=2,
    )
    upgrade_database(configured.effective_database_url)
    engine = create_db_engine(configured.effective_database_url)
    with make_session_factory(engine)() as session:
        create_user(
            session, UserCreate(username="root", password=ROOT_PASSWORD, role=Role.USER), actor="test"
        )
        session.commit()
    engine.dispose()
    replica_one, replica_two = create_app(configured), create_app(configured)
    one = TestClient(replica_one, client=PROXY)
    two = TestClient(replica_two, client=PROXY)
    # A failure for root from 203.0.113.5 through one replica behind the proxy (limit: 1) ...
    assert _fail(one, "203.0.113.5, 10.1.0.9") == 401
    right = {"username": "root", "password": ROOT_PASSWORD}
    # ... blocks that client on the other replica, even with the right password ...
    assert two.post(LOGIN, json=right, headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 429
    # ... and not another client behind the same proxy: the right password gets in.
    assert two.post(LOGIN, json=right, headers={"X-Forwarded-For": "198.51.100.4"}).status_code == 200

    # Spraying: two failures over two user names from one client block it for every name.
    assert [_fail(two, "192.0.2.8", f"user{i}") for i in range(2)] == [401] * 2
    assert _fail(one, "192.0.2.8", "someone-else") == 429

    # A client that is not a trusted proxy cannot pick its address with the header.
    direct = TestClient(replica_one, client=("198.51.100.66", 5000))
    assert _fail(direct, "172.16.0.1") == 401
    assert _fail(direct, "172.16.0.99") == 429
