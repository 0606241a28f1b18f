"""The listener names a C-MOVE arrival's source by (Move Originator AE, peer AE), from the sources
table: real SQLite, configuration applied as `axiom apply` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from axiom.pipeline.move_origin import MoveSources
from tests.support.routing import apply_dict, fresh_runtime


def _dimse(name: str, peer: str, calling: str, retrieve: str = "move") -> dict[str, Any]:
    return {
        "name": name,
        "type": "dimse",
        "host": "127.0.0.1",
        "port": 4242,
        "ae_title": peer,
        "calling_ae_title": calling,
        "retrieve": retrieve,
        "schedule": {"every_minutes": 5},
    }


def _config(*sources: dict[str, Any]) -> dict[str, Any]:
    return {"sources": list(sources), "destinations": [], "rulesets": []}


def test_the_pair_names_one_source_and_nothing_else_does(tmp_path: Path) -> None:
    with fresh_runtime(tmp_path / "data") as rt:
        apply_dict(
            rt,
            _config(
                _dimse("pacs-a", "PACS_A", "AXIOM_A"),
                _dimse("pacs-b", "PACS_B", "AXIOM_A"),
                # Two sources asking the same PACS under the same AE: no way to tell them apart.
                _dimse("twin-1", "PACS_C", "AXIOM_T"),
                _dimse("twin-2", "PACS_C", "AXIOM_T"),
                # C-GET arrivals come on the poll's own association, never to the listener.
                _dimse("getter", "PACS_D", "AXIOM_G", retrieve="get"),
            ),
            tmp_path,
        )
        sources = MoveSources(rt.sessions)
        assert sources.source_for("AXIOM_A", "PACS_A") == "pacs-a"
        assert sources.source_for("AXIOM_A ", "PACS_B") == "pacs-b"  # AE titles may arrive padded
        assert sources.source_for("AXIOM_T", "PACS_C") is None
        assert sources.source_for("AXIOM_G", "PACS_D") is None
        assert sources.source_for("", "PACS_A") is None  # a plain C-STORE: the listener's
        assert sources.source_for("OTHER", "PACS_A") is None


def test_a_new_source_is_seen_after_the_refresh_interval(tmp_path: Path) -> None:
    with fresh_runtime(tmp_path / "data") as rt:
        apply_dict(rt, _config(_dimse("pacs-a", "PACS_A", "AXIOM_A")), tmp_path)
        cached = MoveSources(rt.sessions, refresh_seconds=3600)
        fresh = MoveSources(rt.sessions, refresh_seconds=0)
        assert cached.source_for("AXIOM_A", "PACS_A") == fresh.source_for("AXIOM_A", "PACS_A") == "pacs-a"
        apply_dict(
            rt,
            _config(_dimse("pacs-a", "PACS_A", "AXIOM_A"), _dimse("pacs-b", "PACS_B", "AXIOM_A")),
            tmp_path,
        )
        assert fresh.source_for("AXIOM_A", "PACS_B") == "pacs-b"
        assert cached.source_for("AXIOM_A", "PACS_B") is None  # until its interval has passed
