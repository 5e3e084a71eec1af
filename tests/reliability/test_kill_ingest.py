"""Scenario 1: `shipyard serve` and a separate `shipyard worker`, ingesting documents sent by a
client, are SIGKILLed at random points; after restarts no document is lost or doubled and a
search finds each one."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from shipyard.auth import Role
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.platform import build_platform
from shipyard.store import ChunkRow, DocumentRow, upgrade
from tests.conftest import make_settings, wait_until
from tests.reliability.conftest import LOAD_RATE_LIMIT, Scale
from tests.reliability.platform import Platform

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
TOPICS = ["backups", "alerts", "deploys", "billing", "access", "latency", "queues"]


def documents(count: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"doc-{n:04d}",
            "text": f"# Note {n}\n\nThis note {n} is about {TOPICS[n % 7]} and item {n * 7919 % 1000}. " * 3
            + f"\n\n## Details {n}\n\nMore on {TOPICS[(n + 3) % 7]}, case {n}.",
            "metadata": {"n": n},
        }
        for n in range(count)
    ]


class Client:
    """Sends the documents in batches, retrying each batch until the API accepts it (202) — as a
    client with retries does while the API is down."""

    def __init__(self, url: str, headers: dict[str, str], batches: list[list[dict[str, object]]]) -> None:
        self.url, self.headers, self.batches = url, headers, batches
        self.jobs: list[str] = []
        self.retries = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=10) as client:
            for batch in self.batches:
                while True:
                    try:
                        answer = client.post("/v1/collections/crash/documents", json={"documents": batch})
                        if answer.status_code == 202:
                            self.jobs.append(answer.json()["id"])
                            break
                    except httpx.HTTPError:
                        pass
                    self.retries += 1
                    time.sleep(0.1)


def test_sigkill_mid_ingest_loses_and_doubles_nothing(tmp_path: Path, database_url: str, scale: Scale) -> None:
    count, kills, batch = scale.pick((240, 3, 40), (2000, 10, 100))
    store = build_platform(make_settings(tmp_path, database_url))
    upgrade(store.database)
    key = store.access.create_key("ingest", Role.EDITOR, "default", rate_limit_per_minute=LOAD_RATE_LIMIT)
    headers = {"Authorization": f"Bearer {key.secret}"}
    store.collections.create(DEFAULT_PROJECT_ID, "crash")
    # A killed attempt counts: enough attempts that a job killed several times still finishes.
    platform = Platform(tmp_path, database_url, SHIPYARD_JOB_LEASE_SECONDS="1", SHIPYARD_JOB_MAX_ATTEMPTS="20")
    docs = documents(count)
    client = Client(platform.url, headers, [docs[i : i + batch] for i in range(0, count, batch)])
    rng = random.Random(20261204)
    killed: list[dict[str, object]] = []
    started = time.monotonic()
    try:
        platform.start()
        client.thread.start()
        for n in range(kills):
            if n == 0:
                # The first kill waits until documents are arriving: on a loaded machine start-up
                # alone can outlast a random delay, and every kill then missed the ingest.
                wait_until(lambda: stored(store) > 0, timeout=120, interval=0.05)
            else:
                time.sleep(rng.uniform(0.3, 2.5))
            which = rng.choice(["api", "worker", "both"])
            killed.append({"at_s": round(time.monotonic() - started, 1), "which": which, "stored": stored(store)})
            platform.kill(which)
            platform.start()
        client.thread.join(300)
        assert not client.thread.is_alive(), "the client could not send every batch"
        with httpx.Client(base_url=platform.url, headers=headers, timeout=10) as api:
            deadline = time.monotonic() + scale.pick(240, 900)
            while pending := [j for j in client.jobs if api.get(f"/v1/jobs/{j}").json()["status"] != "succeeded"]:
                assert time.monotonic() < deadline, f"jobs not done: {pending}"
                time.sleep(0.5)
            elapsed = time.monotonic() - started
            found = sum(_search_finds(api, n) for n in range(count))
    except BaseException:
        store.database.dispose()
        raise
    finally:
        platform.stop()
    with store.database.read() as session:
        ids = session.scalars(select(DocumentRow.external_id)).all()
        chunk_counts = dict(session.execute(select(DocumentRow.id, DocumentRow.chunk_count)).all())
        positions = session.execute(
            select(ChunkRow.document_id, func.count(), func.count(func.distinct(ChunkRow.position))).group_by(
                ChunkRow.document_id
            )
        ).all()
    store.database.dispose()
    assert any(0 < int(k["stored"]) < count for k in killed), f"no kill landed mid-ingest: {killed}"  # type: ignore[call-overload]
    assert sorted(ids) == [d["id"] for d in docs]  # every document, each exactly once
    assert all(n == distinct for _, n, distinct in positions)  # no chunk twice
    assert {d: n for d, n, _ in positions} == chunk_counts  # no orphans, none missing
    assert found == count
    scale.record(
        f"kill_ingest_{store.database.dialect}",
        {"documents": count, "kills": killed, "client_retries": client.retries, "jobs": len(client.jobs),
         "lost": count - len(set(ids)), "duplicated_chunks": sum(n - d for _, n, d in positions),
         "found_by_search": found, "seconds": round(elapsed, 1)},
    )  # fmt: skip


def stored(store: object) -> int:
    with store.database.read() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count()).select_from(DocumentRow)) or 0)


def _search_finds(api: httpx.Client, n: int) -> bool:
    body = {"query": f"note {n} details", "top_k": 3, "filter": {"n": n}}
    hits = api.post("/v1/collections/crash/search", json=body).json()["results"]
    return bool(hits) and hits[0]["document_id"] == f"doc-{n:04d}"
