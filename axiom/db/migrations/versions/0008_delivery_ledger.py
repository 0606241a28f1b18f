"""Delivery ledger: one row per (SOP Instance UID, destination, content hash) with its outcome.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("spool_path", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("exception_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["dicom_instances.id"],
            name=op.f("fk_deliveries_instance_id_dicom_instances"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "sop_instance_uid",
            "content_hash",
            "destination",
            name=op.f("uq_deliveries_sop_instance_uid_content_hash_destination"),
        ),
    )
    op.create_index(op.f("ix_deliveries_instance_id"), "deliveries", ["instance_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_deliveries_instance_id"), table_name="deliveries")
    op.drop_table("deliveries")
