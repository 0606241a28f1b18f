"""What every ``axiom`` command module needs at import, kept light: ``axiom --help`` imports every
command module, so settings (pydantic) and the database (SQLAlchemy) load only when a command runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from axiom.config import Settings

# The audit actor of changes made from the command line.
CLI_ACTOR = "cli"


def get_settings() -> Settings:
    from axiom.config import get_settings as build

    return build()
