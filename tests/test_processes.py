"""The real processes: `shipyard serve` and `shipyard worker` under SIGTERM and SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.auth import Role
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.jobs import JobStatus
from shipyard.platform import Platform, build_platform
from shipyard.store import upgrade
from tests.conftest import make_settings, wait_until

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
SHIPYARD = [sys.executable, "-m", "shipyard.cli.main"]


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(
        SHIPYARD_HOME=str(tmp_path / "home"),
        SHIPYARD_DATABASE_URL=database_url,
        SHIPYARD_PLUGINS="tests.plugins.slow_jobs",
        SHIPYARD_JOB_POLL_SECONDS="0.05",
        SHIPYARD_LOG_LEVEL="info",
        PYTHONPATH=str(REPO),
    )
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    services = build_platform(make_settings(tmp_path, database_url))
    upgrade(services.database)
    yield services
    services.database.dispose()


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([*SHIPYARD, *args], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)


def _kill_midway_then_finish(
    env: dict[str, str],
    tmp_path: Path,
    *,
    midway: Callable[[], bool],
    after_kill: Callable[[], None],
    finished: Callable[[], bool],
    timeout: float = 60,
) -> None:
    """Start a worker, SIGKILL it once `midway()` holds, check `after_kill()`, then let a second
    worker finish the work (and stop it with SIGTERM, which must exit cleanly)."""
    first = _start(["worker"], env, tmp_path / "worker1.log")
    try:
        wait_until(midway, timeout=60, interval=0.005)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        after_kill()
        second = _start(["worker"], env, tmp_path / "worker2.log")
        try:
            wait_until(finished, timeout=timeout)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()


def test_sigterm_finishes_in_flight_requests_flushes_the_log_and_releases_jobs(
    tmp_path: Path, database_url: str, store: Platform
) -> None:
    port = _free_port()
    env = _env(tmp_path, database_url, SHIPYARD_JOB_LEASE_SECONDS="30")
    server = _start(["serve", "--port", str(port)], env, tmp_path / "serve.log")
    key = store.access.create_key("ops", Role.ADMIN).secret
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), timeout=30)
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{url}/v1/me", headers=headers).status_code == 200
        job = httpx.post(f"{url}/v1/jobs", json={"kind": "test.slow", "payload": {"steps": 400}}, headers=headers)
        job_id = job.json()["id"]
        wait_until(lambda: store.jobs.get(DEFAULT_PROJECT_ID, job_id).progress_done > 0)

        # A request whose body is still arriving when SIGTERM comes must still be answered.
        body = b'{"name": "late-project"}'
        conn = socket.create_connection(("127.0.0.1", port))
        head = (
            f"POST /v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        conn.sendall(head.encode() + body[:5])
        time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        wait_until(lambda: not _ready(url))  # shutting down: new requests are refused
        conn.sendall(body[5:])
        response = conn.recv(65536).decode()
        conn.close()
        assert response.startswith("HTTP/1.1 201"), response
        # uvicorn re-raises the captured SIGTERM after its graceful shutdown, so supervisors see
        # an exit by SIGTERM; what matters is that it got there cleanly (checked below).
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
    released = store.jobs.get(DEFAULT_PROJECT_ID, job_id)
    assert released.status is JobStatus.QUEUED and released.attempts == 0
    routes = [r.route for r in store.request_log.list(None).items]
    assert routes.count("/v1/projects") == 1 and "/v1/me" in routes and "/v1/jobs" in routes
    assert store.access.get_project("late-project").name == "late-project"


def test_a_job_whose_worker_was_killed_is_picked_up_again(tmp_path: Path, database_url: str, store: Platform) -> None:
    env = _env(tmp_path, database_url, SHIPYARD_JOB_LEASE_SECONDS="1")
    job = store.jobs.enqueue(DEFAULT_PROJECT_ID, "test.slow", {"steps": 30, "sleep": 0.05})

    def orphaned() -> None:
        assert store.jobs.get(DEFAULT_PROJECT_ID, job.id).status is JobStatus.RUNNING

    _kill_midway_then_finish(
        env,
        tmp_path,
        midway=lambda: store.jobs.get(DEFAULT_PROJECT_ID, job.id).progress_done >= 3,
        after_kill=orphaned,
        finished=lambda: store.jobs.get(DEFAULT_PROJECT_ID, job.id).status is JobStatus.SUCCEEDED,
    )
    done = store.jobs.get(DEFAULT_PROJECT_ID, job.id)
    assert done.attempts == 2
    assert done.result == {"steps": 30, "finished_on_attempt": 2}
    assert "stopped responding" in (done.error or "") or done.error is None


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(tmp_path / "demo-home")
    result = subprocess.run(
        [*SHIPYARD, "demo", "--port", str(_free_port()), "--exit"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "admin API key (shown once, store it now): sy_" in result.stdout
    assert "FAILED" not in result.stdout
    assert result.stdout.count(" ok ") >= 13
    assert "top hit guide/rollback.md" in result.stdout  # the knowledge path: ingest job, then hybrid search
    assert "extractive answer citing guide/rollback.md" in result.stdout  # then a cited answer
    assert "retrieve → pack → extract → cite" in result.stdout  # and its trace


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_ingest_killed_with_sigkill_ends_with_every_document_exactly_once(
    tmp_path: Path, database_url: str, store: Platform
) -> None:
    from sqlalchemy import func, select

    from shipyard.knowledge.documents import DocumentInput
    from shipyard.knowledge.ingest_jobs import IngestItem, enqueue_ingest
    from shipyard.store import ChunkRow, DocumentRow

    env = _env(tmp_path, database_url, SHIPYARD_JOB_LEASE_SECONDS="1")
    collection = store.collections.create(DEFAULT_PROJECT_ID, "crash")
    # Two chunks per document (the small chunk size forces it), 700 documents: several batches.
    topics = ["backups", "alerts", "deploys", "billing", "access", "latency", "queues"]
    documents = [
        DocumentInput(
            f"doc-{n:04d}",
            f"# Note {n}\n\nThis note {n} is about {topics[n % 7]} and item {n * 7919 % 1000}. " * 3
            + f"\n\n## Details {n}\n\nMore on {topics[(n + 3) % 7]}, case {n}.",
            metadata={"n": n},
        )
        for n in range(700)
    ]
    job = enqueue_ingest(store.jobs, collection, [IngestItem.of_document(d) for d in documents])

    def stored_documents() -> int:
        with store.database.read() as session:
            return int(session.scalar(select(func.count()).select_from(DocumentRow)) or 0)

    killed: list[int] = []

    def in_the_middle() -> None:
        killed.append(stored_documents())
        assert 0 < killed[0] < len(documents), killed  # really killed in the middle

    _kill_midway_then_finish(
        env,
        tmp_path,
        midway=lambda: stored_documents() > 0,
        after_kill=in_the_middle,
        finished=lambda: store.jobs.get(DEFAULT_PROJECT_ID, job.id).status is JobStatus.SUCCEEDED,
        timeout=120,
    )
    killed_at = killed[0]
    result = store.jobs.get(DEFAULT_PROJECT_ID, job.id).result
    assert result is not None and result["documents"] == {
        "created": len(documents) - killed_at,
        "updated": 0,
        "unchanged": killed_at,
        "failed": 0,
    }
    with store.database.read() as session:
        ids = session.scalars(select(DocumentRow.external_id)).all()
        per_document = {
            external_id: chunk_count
            for external_id, chunk_count in session.execute(select(DocumentRow.external_id, DocumentRow.chunk_count))
        }
        positions = session.execute(
            select(ChunkRow.document_id, func.count(), func.count(func.distinct(ChunkRow.position))).group_by(
                ChunkRow.document_id
            )
        ).all()
        orphans = session.scalar(
            select(func.count()).select_from(ChunkRow).where(~ChunkRow.document_id.in_(select(DocumentRow.id)))
        )
    assert sorted(ids) == [d.external_id for d in documents]  # each exactly once
    assert orphans == 0
    assert sum(per_document.values()) == sum(count for _, count, _ in positions)
    assert all(count == distinct for _, count, distinct in positions)  # no duplicated chunk
    fresh = store.collections.get(DEFAULT_PROJECT_ID, "crash")
    hits = store.search.search(fresh, "note 123 details", filter={"n": 123}, top_k=5)
    assert {h.document_id for h in hits} == {"doc-0123"}
