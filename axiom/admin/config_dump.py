"""The stored configuration read back in the file format ``axiom apply`` reads (``axiom get``, the API's
and the console's lists): one function per kind, each by name."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from axiom.db.repositories import config as config_repo
from axiom.db.repositories import crosswalks as crosswalks_repo
from axiom.db.repositories import peers as peers_repo
from axiom.db.repositories import sources as sources_repo


def dump_destinations(session: Session) -> list[dict[str, Any]]:
    """Every destination in the file format ``apply`` reads, by name."""
    return [config_repo.dump_model(item) for item in config_repo.load_destination_configs(session).values()]


def dump_rulesets(session: Session) -> list[dict[str, Any]]:
    """Every ruleset (disabled ones too) in the file format ``apply`` reads, in evaluation order."""
    return [config_repo.dump_model(item) for item in config_repo.load_rulesets(session)]


def dump_crosswalks(session: Session) -> list[dict[str, Any]]:
    """Every crosswalk's configuration in the file format ``apply`` reads, by name."""
    return [
        crosswalks_repo.crosswalk_config_values(row)
        for row in crosswalks_repo.get_crosswalk_rows(session).values()
    ]


def dump_peers(session: Session) -> list[dict[str, Any]]:
    """Every known peer in the file format ``apply`` reads, by name."""
    return [config_repo.dump_model(item) for item in peers_repo.load_peer_configs(session).values()]


def dump_sources(session: Session) -> list[dict[str, Any]]:
    """Every source in the file format ``apply`` reads, by name."""
    return [config_repo.dump_model(item) for item in sources_repo.load_source_configs(session).values()]
