"""Persistence: SQLAlchemy models (``models``), engines and schema upgrades (``session``), Alembic
migrations (``migrations``, run through ``migrate.alembic_config``) and query functions
(``repositories``)."""
