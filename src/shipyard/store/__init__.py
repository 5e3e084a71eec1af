"""The metadata store: one SQLAlchemy schema for SQLite and PostgreSQL, Alembic migrations."""

from shipyard.store.database import Database, create_database
from shipyard.store.migrate import MigrationState, migration_state, upgrade
from shipyard.store.models import (
    ApiKeyRow,
    Base,
    BudgetRow,
    ChunkRow,
    CollectionRow,
    DocumentRow,
    FeedbackRow,
    IngestItemRow,
    JobRow,
    ProjectRow,
    PromptLabelRow,
    PromptRow,
    PromptVersionRow,
    RequestLogRow,
    TraceRow,
    UsageRow,
)

__all__ = [
    "ApiKeyRow",
    "Base",
    "BudgetRow",
    "ChunkRow",
    "CollectionRow",
    "DocumentRow",
    "FeedbackRow",
    "IngestItemRow",
    "Database",
    "JobRow",
    "MigrationState",
    "ProjectRow",
    "PromptLabelRow",
    "PromptRow",
    "PromptVersionRow",
    "RequestLogRow",
    "TraceRow",
    "UsageRow",
    "create_database",
    "migration_state",
    "upgrade",
]
