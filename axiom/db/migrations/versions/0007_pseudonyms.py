"""Pseudonyms: the identity behind each pseudonym the anonymize action sent, for re-identification.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pseudonyms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("original_id_hash", sa.String(length=64), nullable=False),
        sa.Column("original_patient_id", sa.Text(), nullable=False),
        sa.Column("original_patient_name", sa.Text(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        sa.Column("date_shift_days", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pseudonyms")),
        sa.UniqueConstraint("pseudonym", "original_id_hash", name=op.f("uq_pseudonyms_pseudonym_original_id_hash")),
    )
    op.create_index(op.f("ix_pseudonyms_pseudonym"), "pseudonyms", ["pseudonym"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pseudonyms_pseudonym"), table_name="pseudonyms")
    op.drop_table("pseudonyms")
