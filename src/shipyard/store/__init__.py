"""The metadata store: one SQLAlchemy schema for SQLite and PostgreSQL, Alembic migrations."""

from shipyard.store.database import Database, create_database
from shipyard.store.migrate import MigrationState, migration_state, upgrade
from shipyard.store.models import (
    ApiKeyRow,
    Base,
    ChunkRow,
    CollectionRow,
    DocumentRow,
    IngestItemRow,
    JobRow,
    ProjectRow,
    PromptLabelRow,
    PromptRow,
    PromptVersionRow,
    RequestLogRow,
)

__all__ = [
    "ApiKeyRow",
    "Base",
    "ChunkRow",
    "CollectionRow",
    "DocumentRow",
    "IngestItemRow",
    "Database",
    "JobRow",
    "MigrationState",
    "ProjectRow",
    "PromptLabelRow",
    "PromptRow",
    "PromptVersionRow",
    "RequestLogRow",
    "create_database",
    "migration_state",
    "upgrade",
]
