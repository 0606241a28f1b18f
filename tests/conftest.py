"""Root fixtures shared by every test package: the synthetic corpus, a real Orthanc, Settings.

Keep this lean: fixtures used by one package belong in that package's conftest.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from axiom.config import Settings
from axiom.dicom.scu_ae import close_response_race
from tests.factories import Corpus, write_corpus
from tests.support.orthanc import Orthanc, orthanc_available
from tests.support.services import require


def pytest_configure(config: pytest.Config) -> None:
    # The pynetdicom SCUs the tests drive talk to a listener that answers within a millisecond:
    # without this, pynetdicom's requestor sometimes drops such a response (axiom/dicom/scu_ae.py).
    close_response_race()


@pytest.fixture(scope="session")
def corpus_small(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """~50 synthetic instances across modalities, sizes and transfer syntaxes (read-only: copy to modify)."""
    return write_corpus(tmp_path_factory.mktemp("corpus-small"))


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    """A started Orthanc (AET ``ORTHANC``) on free loopback ports, killed after the test."""
    require("Orthanc", orthanc_available(), "/usr/sbin/Orthanc is not installed (apt-get install orthanc)")
    with Orthanc(tmp_path / "orthanc") as server:
        yield server


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    """Build Settings whose data dir is a fresh folder under ``tmp_path``; keyword arguments override."""
    counter = itertools.count()

    def make(**overrides: Any) -> Settings:
        overrides.setdefault("data_dir", tmp_path / f"axiom-data-{next(counter)}")
        return Settings(**overrides)

    return make
