"""Instance headers: the received header of each instance (no bulk data), kept for replaying rules.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the model column type: a migration must not change when the models do.
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "instance_headers",
        sa.Column("instance_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("header", JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["dicom_instances.id"],
            name=op.f("fk_instance_headers_instance_id_dicom_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_instance_headers")),
    )
    op.create_index(op.f("ix_instance_headers_received_at"), "instance_headers", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_instance_headers_received_at"), table_name="instance_headers")
    op.drop_table("instance_headers")
