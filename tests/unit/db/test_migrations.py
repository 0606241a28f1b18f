"""The Alembic migrations: they build the schema from nothing, agree with the models, and can be
run by several starting processes at once."""

from __future__ import annotations

import multiprocessing
import tomllib
from fnmatch import fnmatch
from multiprocessing.synchronize import Barrier as BarrierType
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, String, inspect, text

from axiom.db.base import Base
from axiom.db.migrate import MIGRATIONS_DIR, alembic_config, head_revision
from axiom.db.session import create_db_engine, current_revision, upgrade_database

REPO_ROOT = Path(__file__).resolve().parents[3]
TABLES = {
    "storage_backends",
    "rulesets",
    "rules",
    "dicom_studies",
    "dicom_series",
    "dicom_instances",
    "exception_logs",
    "audit_logs",
    "config_state",
    "ruleset_versions",
    "crosswalks",
    "crosswalk_entries",
    "instance_headers",
    "completion_groups",
    "completion_members",
    "deliveries",
    "users",
    "api_keys",
    "pseudonyms",
    "sources",
    "source_states",
    "source_pulled_instances",
    "schedule_state",
    "inference_results",
    "peers",
    "route_attempts",
}


def _diff(engine: Engine, metadata: MetaData) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def test_upgrade_from_empty_builds_every_table_and_seeds_config_state(empty_db_url: str) -> None:
    assert current_revision(empty_db_url) is None

    upgrade_database(empty_db_url)

    assert current_revision(empty_db_url) == head_revision() == "0014"
    engine = create_db_engine(empty_db_url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id, version FROM config_state")).all() == [(1, 0)]
    finally:
        engine.dispose()


def test_upgrade_is_a_no_op_when_at_head(empty_db_url: str) -> None:
    upgrade_database(empty_db_url)
    engine = create_db_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE config_state SET version = 7"))
        upgrade_database(empty_db_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM config_state")).scalar_one() == 7
    finally:
        engine.dispose()


def test_models_and_migration_agree(empty_db_url: str) -> None:
    upgrade_database(empty_db_url)
    engine = create_db_engine(empty_db_url)
    try:
        assert _diff(engine, Base.metadata) == []

        # The comparison must be able to fail: a model drifting from the migration is reported.
        drifted = MetaData(naming_convention=Base.metadata.naming_convention)
        for table in Base.metadata.tables.values():
            table.to_metadata(drifted)
        drifted.tables["dicom_studies"].c.study_date.type = String(10)
        changes = _diff(engine, drifted)
        assert len(changes) == 1
        assert "study_date" in repr(changes)
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(empty_db_url: str) -> None:
    upgrade_database(empty_db_url)
    engine = create_db_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            command.downgrade(alembic_config(connection=conn), "base")
            conn.commit()
        assert not TABLES & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    upgrade_database(empty_db_url)
    assert current_revision(empty_db_url) == head_revision()


def _start_process(url: str, barrier: BarrierType) -> None:
    barrier.wait(timeout=60)
    upgrade_database(url)


def test_concurrent_starts_upgrade_once(empty_db_url: str) -> None:
    # Separate processes, as when the listener, workers and API start together on a new database.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(3)
    processes = [context.Process(target=_start_process, args=(empty_db_url, barrier)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)

    assert [p.exitcode for p in processes] == [0, 0, 0]
    assert current_revision(empty_db_url) == head_revision()
    engine = create_db_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM config_state")).scalar_one() == 1
    finally:
        engine.dispose()


def test_migration_files_ship_as_package_data() -> None:
    # An installed package carries only packages (folders with __init__.py) and files matched by
    # package-data, so every migration file must be one or the other.
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["*"]
    files = [p for p in MIGRATIONS_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert {p.name for p in files} >= {
        "env.py",
        "script.py.mako",
        "0001_initial.py",
        "0002_ruleset_versions_crosswalks.py",
        "0003_ruleset_options.py",
        "0004_instance_headers.py",
        "0005_completion_groups.py",
        "0006_auth.py",
    }
    for path in files:
        assert (path.parent / "__init__.py").is_file(), f"{path.parent} is not a package"
        if path.suffix != ".py":
            assert any(fnmatch(path.name, pattern) for pattern in patterns), (
                f"{path.name} not in package-data"
            )


def test_0002_keeps_existing_configuration_and_downgrades_to_0001(empty_db_url: str) -> None:
    engine = create_db_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            command.upgrade(alembic_config(connection=conn), "0001")
            conn.commit()
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO rulesets (name, description, priority, enabled, mode) "
                    "VALUES ('clinical', '', 1, true, 'all_matches')"
                )
            )
        with engine.connect() as conn:
            command.upgrade(alembic_config(connection=conn), "0002")
            conn.commit()
        assert current_revision(empty_db_url) == "0002"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM rulesets")).scalars().all() == ["clinical"]
            assert conn.execute(text("SELECT count(*) FROM ruleset_versions")).scalar_one() == 0

        with engine.connect() as conn:
            command.downgrade(alembic_config(connection=conn), "0001")
            conn.commit()
        names = set(inspect(engine).get_table_names())
        assert not {"ruleset_versions", "crosswalks", "crosswalk_entries"} & names
        assert "rulesets" in names
    finally:
        engine.dispose()
