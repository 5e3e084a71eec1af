"""Shared fixtures: hermetic settings, both store dialects, a live server on real sockets."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from shipyard.api import create_app
from shipyard.auth import Role
from shipyard.platform import Platform, build_platform
from shipyard.settings import Settings
from shipyard.store import upgrade

# The machine's PostgreSQL (trust auth). Tests never skip when it is down: they fail and say so.
PG_ADMIN_URL = os.environ.get("SHIPYARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SHIPYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# PostgreSQL 16 + pgvector from the pgserver wheel, started by `make services` (scripts/pgvector.sh).
PGVECTOR_ADMIN_URL = os.environ.get(
    "SHIPYARD_TEST_PGVECTOR_URL", "postgresql+psycopg://postgres@127.0.0.1:55432/postgres"
)

# Fast timings so tests exercise leases, retries and flushes in well under a second.
FAST = {
    "job_poll_seconds": 0.05,
    "job_lease_seconds": 2.0,
    "job_retry_base_seconds": 0.05,
    "request_log_flush_seconds": 0.02,
    "shutdown_grace_seconds": 5.0,
    "log_level": "warning",
    "metrics_cache_seconds": 0.0,
}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SHIPYARD_* variable or .env file from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("SHIPYARD_") and not name.startswith("SHIPYARD_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@contextmanager
def postgres_schema(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A fresh PostgreSQL schema; yields a URL whose connections use it (then `public`, where
    extensions live). Dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - says what to do instead of skipping
        pytest.fail(f"PostgreSQL at {admin_url} is not reachable ({exc.orig}); run `make services`")
    try:
        yield f"{admin_url}?options=-csearch_path%3D{schema},public"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def pgvector_schema() -> Iterator[str]:
    """A fresh schema on the PostgreSQL + pgvector server, with the extension installed (in
    `public`, which the schema's search path includes)."""
    admin = sa.create_engine(PGVECTOR_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    admin.dispose()
    with postgres_schema(PGVECTOR_ADMIN_URL) as url:
        yield url


@contextmanager
def store_url(backend: str, sqlite_file: Path) -> Iterator[str]:
    """A store for `backend`: `sqlite` (the file `sqlite_file`), `postgresql` or `pgvector`
    (a fresh schema on that server, dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{sqlite_file}"
    elif backend == "postgresql":
        with postgres_schema() as url:
            yield url
    else:
        with pgvector_schema() as url:
            yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_url(request.param, tmp_path / "store" / "shipyard.db") as url:
        yield url


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {"home": tmp_path / "home", "database_url": database_url, **FAST}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def services(settings: Settings) -> Iterator[Platform]:
    built = build_platform(settings)
    upgrade(built.database)
    yield built
    built.close()  # built, not run: tests flush what they need; closing is the platform's one order


@dataclass
class LiveServer:
    url: str
    services: Platform
    client: httpx.Client

    def key(self, role: Role | str = Role.ADMIN, project: str = "default", **kwargs: object) -> dict[str, str]:
        """Authorization headers for a fresh key with `role` in `project`."""
        created = self.services.access.create_key(f"test-{role}", role, project, **kwargs)  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {created.secret}"}

    def flush_logs(self) -> None:
        self.services.request_log.writer.flush_now()


@contextmanager
def serve(services: Platform) -> Iterator[LiveServer]:
    """Run the real app under uvicorn on a free port in a thread (real sockets, real lifespan)."""
    config = uvicorn.Config(
        create_app(services.settings, services), host="127.0.0.1", port=0, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=10) as client:
        try:
            yield LiveServer(url=url, services=services, client=client)
        finally:
            server.should_exit = True
            thread.join(20)


@pytest.fixture
def live(services: Platform) -> Iterator[LiveServer]:
    with serve(services) as server:
        yield server


def wait_until(predicate: object, timeout: float = 10.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


from typer.testing import CliRunner  # noqa: E402 - appended with the `cli` fixture below

from shipyard.settings import get_settings  # noqa: E402


@pytest.fixture
def cli_settings(settings: Settings) -> Settings:
    """The Settings `shipyard` commands see under the `cli` fixture; a module overrides this to point them elsewhere."""
    return settings


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, cli_settings: Settings) -> Iterator[CliRunner]:
    """A CliRunner whose commands read `cli_settings` (home, database, LLM config) from the environment, as users do."""
    monkeypatch.setenv("SHIPYARD_HOME", str(cli_settings.home))
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", cli_settings.resolved_database_url)
    if cli_settings.llm.config is not None:
        monkeypatch.setenv("SHIPYARD_LLM_CONFIG", str(cli_settings.llm.config))
    get_settings.cache_clear()  # entry points cache Settings: read the environment set above
    yield CliRunner()
    get_settings.cache_clear()
