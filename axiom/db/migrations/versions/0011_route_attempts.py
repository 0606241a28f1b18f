"""Poison-loop and duplicate guards: failed route attempts per arrival, received values that did not
fit their column, and per-destination duplicate skips in the delivery ledger.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "route_attempts",
        sa.Column("spool_path", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_class", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("spool_path", name=op.f("pk_route_attempts")),
    )
    with op.batch_alter_table("dicom_instances") as batch:
        batch.add_column(sa.Column("raw_values", JSON, nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("skipped_count", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch.add_column(sa.Column("sent_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("sent_hash")
        batch.drop_column("skipped_count")
    with op.batch_alter_table("dicom_instances") as batch:
        batch.drop_column("raw_values")
    op.drop_table("route_attempts")
