from tests.unit.db.databases import empty_db_url, engine, migrated_db_url, session, sessions

__all__ = ["empty_db_url", "engine", "migrated_db_url", "session", "sessions"]
