"""Knowledge tests run on three backends: SQLite (embedded vectors), PostgreSQL (embedded
vectors) and PostgreSQL + pgvector (vectors and HNSW in the metadata database) — the same
tests, end to end; the adapters' own contract suites are in tests/contracts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.settings import Settings
from tests.conftest import make_settings, store_url

BACKENDS = ["sqlite", "postgresql", "pgvector"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    with store_url(backend, tmp_path / "store" / "shipyard.db") as url:
        yield url


@pytest.fixture
def vector_url(backend: str) -> str:
    return "pgvector" if backend == "pgvector" else "embedded"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, vector_url: str) -> Settings:
    return make_settings(tmp_path, database_url, vector_url=vector_url)
