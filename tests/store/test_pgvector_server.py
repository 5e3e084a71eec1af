"""The PostgreSQL 16 + pgvector server the pgvector tests run against (scripts/pgvector.sh) works:
the extension loads, an HNSW index builds, and nearest-neighbour queries order correctly."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import PGVECTOR_ADMIN_URL, postgres_schema


def test_pgvector_extension_and_hnsw_search() -> None:
    admin = sa.create_engine(PGVECTOR_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    admin.dispose()
    with postgres_schema(PGVECTOR_ADMIN_URL) as url:
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE items (id int primary key, embedding vector(3))"))
            connection.execute(sa.text("INSERT INTO items VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]')"))
            connection.execute(sa.text("CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops)"))
            ranked = (
                connection.execute(sa.text("SELECT id FROM items ORDER BY embedding <=> '[1,0,0]' LIMIT 3"))
                .scalars()
                .all()
            )
        engine.dispose()
    assert ranked == [1, 3, 2]
