"""What the API shows of a destination's credentials: values masked, secret references as they are."""

from __future__ import annotations

from axiom.admin.config_edit import MASK, mask_secrets


def test_values_are_masked_and_references_shown() -> None:
    config = {
        "name": "cloud",
        "auth": {"type": "basic", "username": "axiom", "password": {"secret": "PACS_PASSWORD"}},
        "token": "plain-token-value",
        "url": "postgresql://reader:hunter2@db/crosswalks",
    }
    shown = mask_secrets(config)
    assert shown["auth"]["password"] == {"secret": "PACS_PASSWORD"}
    assert shown["token"] == MASK
    assert "hunter2" not in shown["url"]
