"""Alembic environment: the engine comes from shipyard (`config.attributes["engine"]`)."""

from alembic import context
from sqlalchemy.engine import Engine

from shipyard.store.models import Base


def _owned_by_migrations(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """The pgvector adapter's table (created on first use, only with SHIPYARD_VECTOR_URL=pgvector)
    is not part of the migrated schema: `alembic check` must not ask to drop it."""
    return not (name or "").startswith(("chunk_vectors", "ix_chunk_vectors_hnsw_"))


config = context.config
engine: Engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
        compare_type=True,
        include_object=_owned_by_migrations,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
