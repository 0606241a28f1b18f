"""Ruleset versions and crosswalks (lookup tables with their synced entries).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model column types: a migration must not change when the models do.
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
NAME = sa.String(length=64)


def _timestamp(name: str, *, nullable: bool = False, server_default: bool = True) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.func.now() if server_default else None,
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "ruleset_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ruleset_name", NAME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ruleset_versions")),
        sa.UniqueConstraint(
            "ruleset_name", "version", name=op.f("uq_ruleset_versions_ruleset_name_version")
        ),
    )
    op.create_index(op.f("ix_ruleset_versions_ruleset_name"), "ruleset_versions", ["ruleset_name"])

    op.create_table(
        "crosswalks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("source", JSON, nullable=False),
        sa.Column("sync_seconds", sa.Float(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        _timestamp("last_attempt_at", nullable=True, server_default=False),
        _timestamp("last_synced_at", nullable=True, server_default=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crosswalks")),
        sa.UniqueConstraint("name", name=op.f("uq_crosswalks_name")),
    )
    op.create_table(
        "crosswalk_entries",
        sa.Column("crosswalk_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["crosswalk_id"],
            ["crosswalks.id"],
            name=op.f("fk_crosswalk_entries_crosswalk_id_crosswalks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("crosswalk_id", "key", name=op.f("pk_crosswalk_entries")),
    )


def downgrade() -> None:
    for table in ("crosswalk_entries", "crosswalks", "ruleset_versions"):
        op.drop_table(table)
