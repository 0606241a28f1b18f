"""Sources polled by Beat: their configuration, poll state, pulled instances, schedule marker.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model column types: a migration must not change when the models do.
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UID = sa.String(length=64)
NAME = sa.String(length=64)


def _time(name: str, *, nullable: bool = True, server_default: bool = False) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.func.now() if server_default else None,
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _time("created_at", nullable=False, server_default=True),
        _time("updated_at", nullable=False, server_default=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_sources_name")),
    )
    op.create_table(
        "source_states",
        sa.Column("name", NAME, nullable=False),
        _time("watermark"),
        sa.Column("lock_token", sa.String(length=32), nullable=True),
        _time("locked_until"),
        _time("last_poll_at"),
        _time("last_success_at"),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_found", sa.Integer(), nullable=False),
        sa.Column("last_retrieved", sa.Integer(), nullable=False),
        sa.Column("last_failed", sa.Integer(), nullable=False),
        sa.Column("total_retrieved", sa.BigInteger(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        _time("next_poll_after"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_source_states")),
    )
    op.create_table(
        "source_pulled_instances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", NAME, nullable=False),
        sa.Column("study_instance_uid", UID, nullable=False),
        sa.Column("sop_instance_uid", UID, nullable=False),
        _time("pulled_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_pulled_instances")),
        sa.UniqueConstraint(
            "source",
            "study_instance_uid",
            "sop_instance_uid",
            name=op.f("uq_source_pulled_instances_source_study_instance_uid_sop_instance_uid"),
        ),
    )
    schedule_state = op.create_table(
        "schedule_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("updated_at", nullable=False, server_default=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_state")),
    )
    # The one row Beat watches; it exists from the start so readers never special-case its absence.
    op.bulk_insert(schedule_state, [{"id": 1, "version": 0}])


def downgrade() -> None:
    for table in ("schedule_state", "source_pulled_instances", "source_states", "sources"):
        op.drop_table(table)
