"""``axiom exceptions list|retry|discard`` as an admin runs them, against a real Orthanc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from axiom.config import Settings
from axiom.db.session import upgrade_database
from axiom.services.apply_config import apply_config, load_config_file
from axiom.services.recover_spool import message_for_spooled_file
from axiom.services.route_instance import route_instance
from axiom.services.runtime import Runtime
from tests.factories import make_dataset
from tests.support.orthanc import Orthanc
from tests.unit.services.test_route_instance import _spool_dataset

pytestmark = pytest.mark.integration


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(data_dir=tmp_path / "data", spool_fsync=False, config_check_seconds=0)
    settings.ensure_dirs()
    upgrade_database(settings.effective_database_url)
    rt = Runtime(settings)
    yield rt
    rt.close()


def _apply(runtime: Runtime, config: dict[str, Any], folder: Path) -> None:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    with runtime.sessions() as session:
        apply_config(session, load_config_file(path), actor="test")
        session.commit()


def _cli(runtime: Runtime, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AXIOM_DATA_DIR": str(runtime.settings.data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "exceptions", *args], env=env, capture_output=True, text=True
    )


def _listed(runtime: Runtime, *filters: str) -> list[dict[str, Any]]:
    result = _cli(runtime, "list", "-o", "json", *filters)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def _route(runtime: Runtime, tmp_path: Path, name: str) -> str:
    ds = make_dataset(modality="CT")
    route_instance(runtime, message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / f"{name}.dcm")))
    return str(ds.SOPInstanceUID)


def _status(runtime: Runtime, exception_id: int) -> str:
    with runtime.engine.connect() as conn:
        return str(
            conn.execute(text(f"SELECT status FROM exception_logs WHERE id = {exception_id}")).scalar()
        )


def test_failed_delivery_is_listed_and_retried_once_the_peer_is_back(
    runtime: Runtime, orthanc: Orthanc, tmp_path: Path
) -> None:
    pacs = {
        "name": "pacs",
        "type": "cstore",
        "host": "127.0.0.1",
        "port": orthanc.dicom_port,
        "ae_title": "ORTHANC",
    }
    _apply(
        runtime,
        {
            "destinations": [pacs],
            "rulesets": [{"name": "m", "rules": [{"name": "all", "destinations": ["pacs"]}]}],
        },
        tmp_path,
    )
    orthanc.stop()
    uid = _route(runtime, tmp_path, "a")

    (row,) = _listed(runtime, "--destination", "pacs", "--status", "open")
    assert (row["stage"], row["sop_instance_uid"], row["attempts"]) == ("deliver", uid, 1)
    assert _listed(runtime, "--status", "dead") == []

    orthanc.start()
    result = _cli(runtime, "retry", str(row["id"]))
    assert result.returncode == 0, result.stderr
    assert f"{row['id']}: delivered" in result.stdout
    assert orthanc.instance_uids() == {uid}
    assert _status(runtime, row["id"]) == "resolved"
    # A resolved row is not acted on again.
    again = _cli(runtime, "retry", str(row["id"]))
    assert again.returncode == 1 and "only open or dead rows" in again.stderr


def test_held_instance_is_routed_again_after_the_rules_changed(runtime: Runtime, tmp_path: Path) -> None:
    _apply(runtime, {"destinations": [{"name": "archive", "type": "filesystem"}], "rulesets": []}, tmp_path)
    uid = _route(runtime, tmp_path, "b")
    (row,) = _listed(runtime, "--stage", "route")
    assert row["error_class"] == "NoMatchingRule"

    _apply(
        runtime,
        {
            "destinations": [{"name": "archive", "type": "filesystem"}],
            "rulesets": [{"name": "m", "rules": [{"name": "all", "destinations": ["archive"]}]}],
        },
        tmp_path,
    )
    result = _cli(runtime, "retry", str(row["id"]))
    assert result.returncode == 0, result.stderr
    assert "routed: delivered" in result.stdout
    (delivered,) = (runtime.settings.destinations_root / "archive").rglob("*.dcm")
    assert uid in delivered.name
    assert _status(runtime, row["id"]) == "resolved"
    assert list(runtime.settings.quarantine_dir.iterdir()) == []


def test_discard_marks_the_row_and_deletes_the_copy(runtime: Runtime, tmp_path: Path) -> None:
    _apply(runtime, {"destinations": [{"name": "archive", "type": "filesystem"}], "rulesets": []}, tmp_path)
    _route(runtime, tmp_path, "c")
    (row,) = _listed(runtime)
    with runtime.engine.connect() as conn:
        held = Path(
            str(conn.execute(text(f"SELECT file_path FROM exception_logs WHERE id = {row['id']}")).scalar())
        )
    assert held.exists()

    result = _cli(runtime, "discard", str(row["id"]))
    assert result.returncode == 0, result.stderr
    assert _status(runtime, row["id"]) == "discarded"
    assert not held.exists()
    assert _cli(runtime, "discard", "999").returncode == 1
