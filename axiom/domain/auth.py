"""Who may call the API: roles, ranked ``ingest < user < admin < superuser``, and the principal of a
request. ``ingest`` may only store (STOW-RS); it reads nothing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$"
KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MIN_PASSWORD_LENGTH = 8


class Role(StrEnum):
    # Stores instances through STOW-RS and nothing else: the key a modality or an ingest client holds.
    INGEST = "ingest"
    USER = "user"  # reads configuration and monitoring, runs dry-runs
    ADMIN = "admin"  # also changes configuration and manages API keys
    SUPERUSER = "superuser"  # also manages users

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, required: Role) -> bool:
        """True when this role may do what ``required`` may."""
        return self.rank >= required.rank


_RANKS = {Role.INGEST: -1, Role.USER: 0, Role.ADMIN: 1, Role.SUPERUSER: 2}
# The least role shown PHI-adjacent values Axiom stores (accession numbers, received header values
# on a study's timeline); below it they are masked and may not be searched by.
PHI_ROLE = Role.ADMIN


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user (by password or JWT) or an API key."""

    kind: str  # "user" or "api_key"
    name: str  # the username, or the API key's name
    role: Role
    user_id: int | None = None
    api_key_id: int | None = None

    @property
    def actor(self) -> str:
        """How audit rows and ruleset versions name the caller."""
        return self.name if self.kind == "user" else f"api-key:{self.name}"


class _Model(BaseModel):
    # A password must never come back in an error message.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class UserCreate(_Model):
    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)
    role: Role = Role.USER
    active: bool = True


class UserUpdate(_Model):
    """Fields left out stay as they are."""

    password: str | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH, max_length=1024)
    role: Role | None = None
    active: bool | None = None


class ApiKeyCreate(_Model):
    name: str = Field(pattern=KEY_NAME_PATTERN)
    role: Role = Role.USER


__all__ = [
    "MIN_PASSWORD_LENGTH",
    "ApiKeyCreate",
    "Principal",
    "Role",
    "UserCreate",
    "UserUpdate",
]
