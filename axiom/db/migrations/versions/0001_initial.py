"""Initial schema: configuration, received DICOM, exceptions, audit, config_state.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model column types: a migration must not change when the models do.
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UID = sa.String(length=64)
NAME = sa.String(length=64)
STATUS = sa.String(length=16)  # StrEnum values, no native ENUM type


def _timestamp(name: str, *, nullable: bool = False, server_default: bool = True) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.func.now() if server_default else None,
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "storage_backends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_backends")),
        sa.UniqueConstraint("name", name=op.f("uq_storage_backends_name")),
    )
    op.create_table(
        "rulesets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rulesets")),
        sa.UniqueConstraint("name", name=op.f("uq_rulesets_name")),
    )
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ruleset_id", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ruleset_id"],
            ["rulesets.id"],
            name=op.f("fk_rules_ruleset_id_rulesets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules")),
        sa.UniqueConstraint("ruleset_id", "name", name=op.f("uq_rules_ruleset_id_name")),
    )
    op.create_index(op.f("ix_rules_ruleset_id"), "rules", ["ruleset_id"])

    op.create_table(
        "dicom_studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_instance_uid", UID, nullable=False),
        sa.Column("patient_id_hash", sa.String(length=64), nullable=True),
        sa.Column("study_date", sa.String(length=8), nullable=True),
        sa.Column("instance_count", sa.Integer(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dicom_studies")),
        sa.UniqueConstraint("study_instance_uid", name=op.f("uq_dicom_studies_study_instance_uid")),
    )
    op.create_index(op.f("ix_dicom_studies_patient_id_hash"), "dicom_studies", ["patient_id_hash"])
    op.create_table(
        "dicom_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_instance_uid", UID, nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=True),
        sa.Column("instance_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["dicom_studies.id"],
            name=op.f("fk_dicom_series_study_id_dicom_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dicom_series")),
        sa.UniqueConstraint("series_instance_uid", name=op.f("uq_dicom_series_series_instance_uid")),
    )
    op.create_index(op.f("ix_dicom_series_study_id"), "dicom_series", ["study_id"])
    op.create_table(
        "dicom_instances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sop_instance_uid", UID, nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("sop_class_uid", UID, nullable=True),
        sa.Column("transfer_syntax_uid", UID, nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("calling_ae", sa.String(length=16), nullable=True),
        sa.Column("called_ae", sa.String(length=16), nullable=True),
        sa.Column("source", NAME, nullable=True),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("spool_path", sa.Text(), nullable=True),
        sa.Column("matched_rules", JSON, nullable=True),
        sa.Column("destinations", JSON, nullable=True),
        sa.Column("received_count", sa.Integer(), nullable=False),
        _timestamp("received_at", server_default=False),
        _timestamp("processed_at", nullable=True, server_default=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["dicom_series.id"],
            name=op.f("fk_dicom_instances_series_id_dicom_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dicom_instances")),
        sa.UniqueConstraint("sop_instance_uid", name=op.f("uq_dicom_instances_sop_instance_uid")),
    )
    op.create_index(op.f("ix_dicom_instances_received_at"), "dicom_instances", ["received_at"])
    op.create_index(op.f("ix_dicom_instances_series_id"), "dicom_instances", ["series_id"])
    op.create_index(op.f("ix_dicom_instances_status"), "dicom_instances", ["status"])

    op.create_table(
        "exception_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("destination", NAME, nullable=True),
        sa.Column("error_class", sa.String(length=128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("sop_instance_uid", UID, nullable=False),
        sa.Column("study_instance_uid", UID, nullable=True),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("file_path", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _timestamp("next_retry_at", nullable=True, server_default=False),
        sa.Column("status", STATUS, nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["dicom_instances.id"],
            name=op.f("fk_exception_logs_instance_id_dicom_instances"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exception_logs")),
    )
    op.create_index(op.f("ix_exception_logs_destination"), "exception_logs", ["destination"])
    op.create_index(op.f("ix_exception_logs_instance_id"), "exception_logs", ["instance_id"])
    op.create_index(op.f("ix_exception_logs_next_retry_at"), "exception_logs", ["next_retry_at"])
    op.create_index(op.f("ix_exception_logs_sop_instance_uid"), "exception_logs", ["sop_instance_uid"])
    op.create_index(op.f("ix_exception_logs_status"), "exception_logs", ["status"])

    op.create_table(
        "audit_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        _timestamp("at"),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("details", JSON, nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
    )
    op.create_index(op.f("ix_audit_logs_at"), "audit_logs", ["at"])
    op.create_index(op.f("ix_audit_logs_correlation_id"), "audit_logs", ["correlation_id"])

    config_state = op.create_table(
        "config_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_state")),
    )
    # The one row workers poll; it exists from the start so readers never special-case its absence.
    op.bulk_insert(config_state, [{"id": 1, "version": 0}])


def downgrade() -> None:
    for table in (
        "config_state",
        "audit_logs",
        "exception_logs",
        "dicom_instances",
        "dicom_series",
        "dicom_studies",
        "rules",
        "rulesets",
        "storage_backends",
    ):
        op.drop_table(table)
