"""Completion groups: instances collected for series/study-complete rules, fired once when complete.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "completion_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=129), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("group_uid", sa.String(length=64), nullable=False),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("quiet_seconds", sa.Float(), nullable=False),
        sa.Column("straggler", sa.String(length=16), nullable=False),
        sa.Column("destinations", JSON, nullable=False),
        sa.Column("expected_count", sa.Integer(), nullable=True),
        sa.Column("count_query", JSON, nullable=True),
        sa.Column("count_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_count", sa.Integer(), nullable=False),
        sa.Column("first_arrival_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_arrival_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fire_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_completion_groups")),
        sa.UniqueConstraint("rule", "level", "group_uid", name=op.f("uq_completion_groups_rule_level_group_uid")),
    )
    op.create_index(op.f("ix_completion_groups_status"), "completion_groups", ["status"])
    op.create_table(
        "completion_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("file_path", sa.Text(), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("straggler", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["completion_groups.id"],
            name=op.f("fk_completion_members_group_id_completion_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["dicom_instances.id"],
            name=op.f("fk_completion_members_instance_id_dicom_instances"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_completion_members")),
        sa.UniqueConstraint("group_id", "sop_instance_uid", name=op.f("uq_completion_members_group_id_sop_instance_uid")),
    )
    op.create_index(op.f("ix_completion_members_group_id"), "completion_members", ["group_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_completion_members_group_id"), table_name="completion_members")
    op.drop_table("completion_members")
    op.drop_index(op.f("ix_completion_groups_status"), table_name="completion_groups")
    op.drop_table("completion_groups")
