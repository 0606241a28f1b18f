"""The ``axiom`` CLI in remote mode against the real API on a loopback port (uvicorn in a thread, the
same app ``axiom api`` serves): every configuration, exception and monitoring verb goes over HTTP. The
CLI's own database settings point at nothing, so a command that fell back to local mode would fail.
The commands run in this process (typer's runner) for speed; the API is still reached over HTTP.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from api.main import create_app
from axiom.admin.accounts import create_api_key, create_user
from axiom.config import Settings
from axiom.db.models import ExceptionLog, ExceptionStatus
from axiom.db.session import create_db_engine, make_session_factory, upgrade_database
from axiom.domain.auth import ApiKeyCreate, Role, UserCreate
from cli.main import app as cli_app
from tests.support.app_server import AppServer

pytestmark = pytest.mark.integration

CONFIG: dict[str, Any] = {
    "destinations": [
        {"name": "archive", "type": "filesystem", "description": "kept"},
        {"name": "scratch", "type": "filesystem"},
    ],
    "rulesets": [{"name": "main", "rules": [{"name": "all", "destinations": ["archive"]}]}],
}


class ApiServer(AppServer):
    name = "Axiom API"

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self._serve(create_app(settings))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    data = tmp_path_factory.mktemp("remote") / "data"
    settings = Settings(data_dir=data)
    settings.ensure_dirs()
    upgrade_database(settings.effective_database_url)
    engine = create_db_engine(settings.effective_database_url)
    with make_session_factory(engine)() as session:
        key = create_api_key(
            session, ApiKeyCreate(name="laptop", role=Role.ADMIN), actor="test", creator_role=Role.SUPERUSER
        ).key
        create_user(
            session, UserCreate(username="ops", password="ops-password-1", role=Role.ADMIN), actor="test"
        )
        session.add(
            ExceptionLog(
                stage="deliver", destination="archive", error_class="Refused", message="no",
                sop_instance_uid="1.2.3.4", status=ExceptionStatus.DEAD,
            )
        )  # fmt: skip
        session.commit()
    engine.dispose()
    with ApiServer(settings) as api:
        yield f"http://127.0.0.1:{api.port}", key


def axiom(*args: str, env: dict[str, str], stdin: str | None = None, check: int | None = 0) -> Result:
    """One ``axiom`` command, in this process (the API answers from its own thread over HTTP)."""
    result = CliRunner().invoke(cli_app, list(args), env=env, input=stdin)
    if check is not None:
        assert result.exit_code == check, (args, result.stdout, result.stderr, result.exception)
    return result


@pytest.fixture
def env(server: tuple[str, str], tmp_path: Path) -> dict[str, str]:
    url, key = server
    return {
        "AXIOM_URL": url,
        "AXIOM_API_KEY": key,
        # No local database to fall back on.
        "AXIOM_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "AXIOM_DATA_DIR": str(tmp_path / "laptop"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }


def test_config_verbs_go_through_the_api(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "10-destinations.yaml").write_text(yaml.safe_dump({"destinations": CONFIG["destinations"]}))
    (folder / "20-rules.yml").write_text(yaml.safe_dump({"rulesets": CONFIG["rulesets"]}))
    applied = axiom("apply", "-f", str(folder), env=env).stdout
    assert "destinations/archive created" in applied and "rulesets/main created" in applied
    assert "unchanged" in axiom("apply", "-f", str(folder), env=env).stdout

    listed = json.loads(axiom("get", "destinations", "-o", "json", env=env).stdout)
    assert {d["name"] for d in listed["destinations"]} == {"archive", "scratch"}
    table = axiom("get", "destinations", "archive", "-o", "table", env=env).stdout.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "ENABLED", "DESCRIPTION"] and table[1].split()[0] == "archive"
    assert "is not one of yaml, json, table" in axiom("get", "rules", "-o", "xml", env=env, check=2).stderr

    changed = {**CONFIG, "destinations": [{"name": "archive", "type": "filesystem", "description": "new"}]}
    text = yaml.safe_dump(changed)
    diff = axiom("diff", "-f", "-", env=env, stdin=text, check=1).stdout
    assert "-description: kept" in diff and "+description: new" in diff and "scratch" not in diff
    pruned = axiom("diff", "--prune", "-f", "-", env=env, stdin=text, check=1).stdout
    assert "--- a/destinations/scratch" in pruned
    dry = axiom("apply", "--dry-run", "--prune", "-f", "-", env=env, stdin=text).stdout
    assert "(dry run) would delete destinations/scratch" in dry
    assert "kept" in axiom("get", "destinations", "archive", env=env).stdout  # nothing changed

    done = axiom("apply", "--prune", "-f", "-", env=env, stdin=text).stdout
    assert "destinations/archive updated" in done and "destinations/scratch deleted" in done
    assert "scratch" not in axiom("get", "destinations", env=env).stdout

    refused = axiom("delete", "destination", "archive", env=env, check=1).stderr
    assert "409" in refused and "main/all" in refused  # a rule still sends there
    described = axiom("describe", "destination", "archive", env=env).stdout
    assert "description: new" in described and "circuit:" in described and "dead_letters: 1" in described

    listed = json.loads(axiom("exceptions", "list", "--status", "dead", "-o", "json", env=env).stdout)
    assert [(r["destination"], r["sop_instance_uid"]) for r in listed] == [("archive", "1.2.3.4")]
    retried = axiom(
        "exceptions", "retry", "--destination", "archive", "--status", "dead", env=env, check=None
    )
    assert "retry: 1 rows" in retried.stdout, (retried.stderr, retried.exception)


def test_login_stores_a_private_token_and_logout_forgets_it(
    server: tuple[str, str], env: dict[str, str]
) -> None:
    url, _ = server
    bare: dict[str, str | None] = {**env, "AXIOM_URL": None, "AXIOM_API_KEY": None}  # unset
    wrong = axiom("login", url, "--username", "ops", "--password", "nope", env=bare, check=1)
    assert "401" in wrong.stderr
    axiom("login", url, "--username", "ops", "--password", "ops-password-1", env=bare)
    stored = Path(env["XDG_CONFIG_HOME"]) / "axiom" / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text())["url"] == url
    assert "archive" in axiom("get", "destinations", env=bare).stdout  # through the API with the token
    axiom("logout", env=bare)
    assert not stored.exists()
    # Local mode again: the laptop's (unreachable) database.
    assert axiom("get", "destinations", env=bare, check=None).exit_code != 0
