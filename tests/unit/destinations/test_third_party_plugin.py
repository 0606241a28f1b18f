"""A destination kind from outside the tree (tests/plugins/axiom_example_destination, installed into
the test venv by scripts/test.sh with its own entry point) is applied, routed to and documented like
a built-in one, with core unchanged."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from typer.testing import CliRunner

from axiom.admin.apply_config import ConfigFileError
from axiom.destinations import available_kinds
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from cli.main import app
from tests.factories import make_dataset
from tests.support.routing import apply_dict, fresh_runtime
from tests.support.services import require
from tests.unit.pipeline.test_route import _spool_dataset


@pytest.fixture(autouse=True)
def _installed() -> None:
    require(
        "axiom-example-destination",
        importlib.util.find_spec("axiom_example_destination") is not None,
        "pip install -e tests/plugins/axiom_example_destination (scripts/test.sh does)",
    )


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with fresh_runtime(tmp_path / "data") as rt:
        yield rt


def _config(folder: Path, **fields: object) -> dict[str, object]:
    destination = {"name": "dropbox", "type": "example-drop", "folder": str(folder), **fields}
    return {
        "destinations": [destination],
        "rulesets": [{"name": "all", "rules": [{"name": "all", "destinations": ["dropbox"]}]}],
    }


def test_the_entry_point_is_a_kind() -> None:
    assert available_kinds()["example-drop"] == "axiom_example_destination:DropDestination"


def test_apply_and_the_worker_route_to_the_plugin(runtime: Runtime, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    apply_dict(runtime, _config(folder, label="routed"), tmp_path)
    ds = make_dataset()
    spooled = _spool_dataset(runtime, ds, tmp_path / "in.dcm")
    body = spooled.read_bytes()

    outcome = route_instance(runtime, message_for_spooled_file(spooled))

    assert outcome is not None and not outcome.retries, outcome
    stored = folder / f"{ds.SOPInstanceUID}.dcm"
    assert stored.read_bytes() == body
    assert dcmread(stored).SOPInstanceUID == ds.SOPInstanceUID
    assert (folder / f"{ds.SOPInstanceUID}.routed").exists()  # the plugin's own field reached it


def test_the_plugin_model_validates_its_own_fields(runtime: Runtime, tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as caught:
        apply_dict(runtime, _config(tmp_path, label="NOT LOWER", colour="red"), tmp_path)
    problems = dict(caught.value.problems)
    assert set(problems) == {"destinations[0].label", "destinations[0].colour"}


def test_axiom_schema_lists_the_plugin_and_the_published_schema_does_not() -> None:
    installed = CliRunner().invoke(app, ["schema"])
    built_in = CliRunner().invoke(app, ["schema", "--built-in"])
    assert installed.exit_code == built_in.exit_code == 0
    assert "DropConfig" in json.loads(installed.stdout)["$defs"]
    assert "DropConfig" not in json.loads(built_in.stdout)["$defs"]
