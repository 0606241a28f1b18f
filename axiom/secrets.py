"""Secret values for references such as ``{secret: PACS_PASSWORD}``.

A name is looked up, in order, in the environment variable ``AXIOM_SECRET_<NAME>`` (the name upper-cased)
and in the secrets file named by the ``secrets_file`` setting (a YAML or JSON map of name to value,
read on each lookup so a rotated secret applies without a restart). Errors name the secret, never a
value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from axiom.config import Settings
from axiom.domain.secrets import SecretRef

ENV_PREFIX = "AXIOM_SECRET_"


class SecretError(LookupError):
    """A secret that cannot be resolved; the message names the secret only."""


def secret_env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _read_secrets_file(path: Path) -> Mapping[str, object]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SecretError(f"secrets file cannot be read ({type(exc).__name__})") from None
    except yaml.YAMLError:
        # The parser's message quotes the offending line, which may be a secret.
        raise SecretError("secrets file is not valid YAML or JSON") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SecretError("secrets file must hold a map of secret name to value")
    return data


def resolve_secret(ref: SecretRef, settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """The value of ``ref``; raises SecretError when it is set nowhere."""
    env = os.environ if environ is None else environ
    value = env.get(secret_env_name(ref.secret))
    if value is not None:
        return value
    if settings.secrets_file is not None:
        found = _read_secrets_file(settings.secrets_file.expanduser()).get(ref.secret)
        if isinstance(found, str | int | float) and not isinstance(found, bool):
            return str(found)
        if found is not None:
            raise SecretError(f"secret {ref.secret!r} in the secrets file is not a string")
    raise SecretError(
        f"secret {ref.secret!r} is not set (environment variable {secret_env_name(ref.secret)} "
        "or the secrets file)"
    )


__all__ = ["ENV_PREFIX", "SecretError", "resolve_secret", "secret_env_name"]
