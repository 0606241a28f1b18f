"""A reference to a secret by name: what configuration holds instead of the secret itself.

Written ``{secret: NAME}`` in a config file. The value is looked up only when a destination needs it
(``axiom.secrets.resolve_secret``), so the database, ``axiom get`` and error messages see the name
alone: the reference is its own masked form.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SECRET_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"


class SecretRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: str = Field(
        pattern=SECRET_NAME_PATTERN,
        description="Name of the secret: environment variable AXIOM_SECRET_<NAME> or a key of the secrets file",
    )

    def __str__(self) -> str:
        return f"{{secret: {self.secret}}}"
