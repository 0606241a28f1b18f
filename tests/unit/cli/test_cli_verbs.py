"""The configuration verbs on this host's database (local mode): ``apply -f DIR|-``, ``--dry-run``,
``diff``, ``--prune``, ``delete``, ``get KIND NAME -o table``, ``describe destination`` and a bulk
``exceptions retry --destination X --status dead``. tests/integration/test_remote_cli.py runs the
same verbs through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from axiom.db.models import ExceptionLog, ExceptionStatus
from cli.main import app

CONFIG: dict[str, Any] = {
    "destinations": [
        {"name": "archive", "type": "filesystem", "description": "kept"},
        {"name": "scratch", "type": "filesystem"},
    ],
    "rulesets": [{"name": "main", "rules": [{"name": "all", "destinations": ["archive"]}]}],
}


@pytest.fixture
def run(migrated_db_url: str, engine: Any, tmp_path: Path) -> Any:
    env = {
        "AXIOM_DATABASE_URL": migrated_db_url,
        "AXIOM_DATA_DIR": str(tmp_path / "data"),
        "AXIOM_URL": None,
        "AXIOM_API_KEY": None,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }

    def axiom(*args: str, stdin: str | None = None, check: int | None = 0) -> Result:
        result = CliRunner().invoke(app, list(args), env=env, input=stdin)
        if check is not None:
            assert result.exit_code == check, (args, result.stdout, result.stderr, result.exception)
        return result

    return axiom


def test_apply_diff_prune_delete_get_describe(
    run: Any, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "a.yaml").write_text(yaml.safe_dump({"destinations": CONFIG["destinations"]}))
    (folder / "b.yml").write_text(yaml.safe_dump({"rulesets": CONFIG["rulesets"]}))
    assert "destinations: 2 created" in run("apply", "-f", str(folder)).stdout
    assert run("diff", "-f", str(folder)).stdout == ""  # exit 0: nothing would change

    changed = yaml.safe_dump({**CONFIG, "destinations": [{"name": "archive", "type": "filesystem"}]})
    diff = run("diff", "--prune", "-f", "-", stdin=changed, check=1).stdout
    assert "-description: kept" in diff and "--- a/destinations/scratch" in diff
    dry = run("apply", "--dry-run", "--prune", "-f", "-", stdin=changed).stdout
    assert "(dry run)" in dry and "would delete destinations/scratch" in dry
    assert "scratch" in run("get", "destinations").stdout  # the dry run changed nothing
    assert "deleted destinations/scratch" in run("apply", "--prune", "-f", "-", stdin=changed).stdout

    table = run("get", "destinations", "archive", "-o", "table").stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "TYPE", "ENABLED"] and table[1].split()[0] == "archive"
    assert run("get", "destinations", "nope", check=1).stderr.startswith("error: no destination named")
    assert "is not one of yaml, json, table" in run("get", "rules", "-o", "xml", check=2).stderr

    assert "used by the rules main/all" in run("delete", "destination", "archive", check=1).stderr
    with sessions() as session:
        session.add(
            ExceptionLog(
                stage="deliver", destination="archive", error_class="Refused", message="no",
                sop_instance_uid="1.2.3.4", status=ExceptionStatus.DEAD,
            )
        )  # fmt: skip
        session.commit()
    described = run("describe", "destination", "archive").stdout
    assert "name: archive" in described and "dead_letters: 1" in described and "circuit: unknown" in described
    retried = run("exceptions", "retry", "--destination", "archive", "--status", "dead", check=None)
    assert "retry: 1 rows" in retried.stdout, (retried.stderr, retried.exception)
    assert run("exceptions", "retry", "--status", "resolved", check=2).exit_code == 2

    assert "rulesets/main deleted" in run("delete", "ruleset", "main").stdout
    assert "destinations/archive deleted" in run("delete", "destinations", "archive").stdout


def test_version_and_completion(run: Any) -> None:
    assert run("--version").stdout.startswith("axiom ")
    assert "--install-completion" in run("--help").stdout
