"""Every API call lands in the request log, written in batches, filterable, with retention."""

from __future__ import annotations

from datetime import timedelta

from shipyard.auth import Role
from shipyard.platform import Platform
from shipyard.store.types import utcnow
from shipyard.telemetry import BatchWriter, RequestRecord
from tests.conftest import LiveServer


def test_calls_are_logged_with_route_template_key_project_and_trace(live: LiveServer) -> None:
    live.services.access.create_project("acme")
    created = live.services.access.create_key("ci", Role.VIEWER, "acme")
    headers = {"Authorization": f"Bearer {created.secret}"}
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = live.client.get(
        "/v1/jobs/job_missing", headers={**headers, "traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    )
    assert response.status_code == 404
    assert response.headers["x-trace-id"] == trace
    live.client.get("/v1/me", headers=headers)
    live.flush_logs()
    rows = live.client.get("/v1/requests", headers=headers).json()["data"]
    assert [(r["route"], r["status"]) for r in rows] == [("/v1/me", 200), ("/v1/jobs/{job_id}", 404)]
    missing = rows[1]
    assert missing["path"] == "/v1/jobs/job_missing"
    assert missing["trace_id"] == trace
    assert missing["key_id"] == created.key.id
    assert missing["error_code"] == "not_found" and "job_missing" in missing["error"]
    assert missing["latency_ms"] > 0


def test_unauthenticated_calls_are_logged_without_a_project(live: LiveServer) -> None:
    live.client.get("/v1/me", headers={"Authorization": "Bearer wrong"})
    live.flush_logs()
    rows = live.services.request_log.list(None, status=401).items
    assert len(rows) == 1 and rows[0].project_id is None and rows[0].error_code == "unauthenticated"


def test_probes_and_scrapes_are_not_logged(live: LiveServer) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert live.client.get(path).status_code == 200
    live.flush_logs()
    assert live.services.request_log.list(None).items == []


def test_filters_and_pages(live: LiveServer) -> None:
    headers = live.key(Role.ADMIN)
    for _ in range(3):
        live.client.get("/v1/me", headers=headers)
    live.client.get("/v1/jobs/nope", headers=headers)
    live.flush_logs()
    get = live.client.get
    only_404 = get("/v1/requests", params={"status": 404}, headers=headers).json()["data"]
    assert [r["route"] for r in only_404] == ["/v1/jobs/{job_id}"]
    client_errors = get("/v1/requests", params={"status_class": 4}, headers=headers).json()["data"]
    assert [r["status"] for r in client_errors] == [404]
    by_route = get("/v1/requests", params={"route": "/v1/me"}, headers=headers).json()["data"]
    assert len(by_route) == 3
    first = get("/v1/requests", params={"limit": 2}, headers=headers).json()
    second = get("/v1/requests", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers).json()
    ids = [r["id"] for r in first["data"] + second["data"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    future = (utcnow() + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert get("/v1/requests", params={"since": future}, headers=headers).json()["data"] == []
    assert len(get("/v1/requests", params={"until": future}, headers=headers).json()["data"]) >= 4


def test_retention_cleanup_deletes_only_old_rows(services: Platform) -> None:
    old = utcnow() - timedelta(days=40)
    log = services.request_log
    for ts in (old, old, utcnow()):
        log.record(RequestRecord(ts, "GET", "/v1/me", "/v1/me", 200, 1.0, None, None, "t" * 32))
    log.writer.flush_now()
    assert log.delete_older_than(30) == 2
    assert len(log.list(None).items) == 1


def test_batch_writer_drops_and_counts_when_full_and_survives_flush_errors() -> None:
    written: list[int] = []
    fail = [True]

    def flush(batch: list[int]) -> None:
        if fail[0]:
            raise RuntimeError("store down")
        written.extend(batch)

    writer: BatchWriter[int] = BatchWriter("test", flush, max_queue=3, max_batch=2)
    assert [writer.put(i) for i in range(5)] == [True, True, True, False, False]
    assert writer.dropped == 2
    assert not writer.flush_now()  # the store is down: the batch is kept
    fail[0] = False
    assert writer.flush_now()
    assert written == [0, 1, 2] and writer.depth == 0


def test_shutdown_flushes_what_is_queued(services: Platform) -> None:
    log = services.request_log
    log.writer.start()
    for _ in range(50):
        log.record(RequestRecord(utcnow(), "GET", "/v1/me", "/v1/me", 200, 1.0, None, None, "t" * 32))
    log.writer.close(timeout=5)
    assert len(log.list(None, limit=100).items) == 50


def test_large_batches_are_written_in_several_statements(services: Platform) -> None:
    log = services.request_log
    rows = [
        RequestRecord(utcnow(), "GET", f"/r{i % 7}", f"/r{i % 7}", 200 + i % 3, 0.5, None, "key_x", f"{i:032x}")
        for i in range(1234)
    ]
    for row in rows:
        log.record(row)
    assert log.writer.flush_now()
    stored = log.list(None, limit=500).items
    assert len(stored) == 500 and stored[0].trace_id == f"{1233:032x}"
    assert sum(1 for _ in log.list(None, route="/r3", limit=500).items) == len([r for r in rows if r.route == "/r3"])
