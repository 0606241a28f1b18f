"""Accession numbers: each instance's AccessionNumber (cut to its SH length), indexed for the
console's and the API's study search. PHI-adjacent: shown and searched only by admin and above.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dicom_instances", sa.Column("accession_number", sa.String(length=16), nullable=True))
    op.create_index(op.f("ix_dicom_instances_accession_number"), "dicom_instances", ["accession_number"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dicom_instances_accession_number"), table_name="dicom_instances")
    op.drop_column("dicom_instances", "accession_number")
