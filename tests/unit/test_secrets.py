from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from axiom.config import Settings
from axiom.destinations.stowrs import STOWRSDestinationConfig
from axiom.domain.secrets import SecretRef
from axiom.secrets import SecretError, resolve_secret


def test_environment_variable_wins_over_the_file(
    tmp_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text('{"PACS_TOKEN": "from-file", "OTHER": "other-value"}')
    settings = settings_factory(secrets_file=secrets)
    env = {"AXIOM_SECRET_PACS_TOKEN": "from-env"}

    assert resolve_secret(SecretRef(secret="PACS_TOKEN"), settings, env) == "from-env"
    assert resolve_secret(SecretRef(secret="OTHER"), settings, env) == "other-value"


def test_yaml_file_is_reread_so_a_rotated_secret_applies(
    tmp_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("pw: first\n")
    settings = settings_factory(secrets_file=secrets)
    assert resolve_secret(SecretRef(secret="pw"), settings, {}) == "first"
    secrets.write_text("pw: second\n")
    assert resolve_secret(SecretRef(secret="pw"), settings, {}) == "second"


def test_missing_secret_names_the_secret_never_a_value(
    tmp_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("present: hunter2\n")
    with pytest.raises(SecretError) as caught:
        resolve_secret(SecretRef(secret="absent"), settings_factory(secrets_file=secrets), {})
    assert "absent" in str(caught.value) and "AXIOM_SECRET_ABSENT" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_unparsable_secrets_file_does_not_quote_its_content(
    tmp_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("pw: [unclosed hunter2\n")
    with pytest.raises(SecretError) as caught:
        resolve_secret(SecretRef(secret="pw"), settings_factory(secrets_file=secrets), {})
    assert "hunter2" not in str(caught.value)


def test_config_holds_the_reference_not_a_plain_password() -> None:
    auth = {"type": "basic", "user": "axiom", "password": {"secret": "PACS_PASSWORD"}}
    config = STOWRSDestinationConfig.model_validate(
        {"name": "web", "url": "http://pacs/dicom-web", "auth": auth}
    )
    assert config.model_dump(mode="json")["auth"]["password"] == {"secret": "PACS_PASSWORD"}
    assert str(SecretRef(secret="PACS_PASSWORD")) == "{secret: PACS_PASSWORD}"
    with pytest.raises(ValidationError):
        STOWRSDestinationConfig.model_validate(
            {"name": "web", "url": "http://pacs/dicom-web", "auth": {**auth, "password": "plain-text"}}
        )
