"""Received headers kept as their encoded bytes up to Pixel Data (issue 17: no JSON build per
instance on the hot path); rows from before keep their DICOM JSON.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("instance_headers") as batch:
        batch.add_column(sa.Column("encoded", sa.LargeBinary(), nullable=True))
        batch.alter_column("header", existing_type=JSON, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM instance_headers WHERE header IS NULL")
    with op.batch_alter_table("instance_headers") as batch:
        batch.alter_column("header", existing_type=JSON, nullable=False)
        batch.drop_column("encoded")
