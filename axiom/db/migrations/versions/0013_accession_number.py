"""Accession numbers: each instance's AccessionNumber (cut to its SH length), indexed for the
console's and the API's study search. PHI-adjacent: shown and searched only by admin and above.
Also the study page's look-ups by Study Instance UID on exception_logs and completion_groups, which
were sequential scans (0.65 ms at 5,000 exception rows, growing with the table).

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

STUDY_UID_TABLES = ("exception_logs", "completion_groups")


def upgrade() -> None:
    op.add_column("dicom_instances", sa.Column("accession_number", sa.String(length=16), nullable=True))
    op.create_index(op.f("ix_dicom_instances_accession_number"), "dicom_instances", ["accession_number"])
    for table in STUDY_UID_TABLES:
        op.create_index(op.f(f"ix_{table}_study_instance_uid"), table, ["study_instance_uid"])


def downgrade() -> None:
    for table in STUDY_UID_TABLES:
        op.drop_index(op.f(f"ix_{table}_study_instance_uid"), table_name=table)
    op.drop_index(op.f("ix_dicom_instances_accession_number"), table_name="dicom_instances")
    op.drop_column("dicom_instances", "accession_number")
