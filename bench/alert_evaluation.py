"""What the embedded alert engine costs: one evaluation of a project's rules over 3 days of series.

The store holds 3 days of per-minute series for 10 HTTP routes (3 statuses each) and 4
deployments (champion and canary), written by 2 processes and compacted as the cleanup job does
(minutes older than 8 h folded into hours). The project has 14 SLOs (10 routes, 4 deployments),
4 threshold rules and 2 anomaly rules. Reported: the first evaluation (anomaly rules backfill 8 h
of minutes) and the median of the next 10, on SQLite and on PostgreSQL. There is no peer to run
beside it: in production Prometheus evaluates the exported rules in its own TSDB.

    PYTHONPATH=. .venv/bin/python bench/alert_evaluation.py
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.monitoring.rules import parse_spec
from shipyard.platform import build_platform
from shipyard.settings import Settings
from shipyard.store import upgrade
from shipyard.telemetry import series
from shipyard.telemetry.metrics import HTTP_BUCKETS, PREDICTION_BUCKETS
from shipyard.telemetry.series import SeriesRecorder

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "alert_evaluation.json"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ROUTES = [f"/v1/route{i}" for i in range(10)]
DEPLOYMENTS = [f"model{i}" for i in range(4)]
SPEC: dict[str, Any] = {
    "slos": [{"name": f"route{i}", "objective": 99.9, "sli": {"availability": {"route": r}}}
             for i, r in enumerate(ROUTES)]
    + [{"name": f"{d}-errors", "objective": 99.5, "sli": {"availability": {"deployment": d}}} for d in DEPLOYMENTS],
    "alerts": [{"name": f"{d}-slow", "threshold": {"signal": "latency_p95", "deployment": d}, "above": 0.1}
               for d in DEPLOYMENTS]
    + [{"name": "route0-anomaly", "anomaly": {"signal": "latency_p95", "route": ROUTES[0]}},
       {"name": "model0-volume", "anomaly": {"signal": "requests", "deployment": DEPLOYMENTS[0]}}],
}  # fmt: skip


def populate(recorder: SeriesRecorder, now: datetime) -> int:
    """3 days of minutes: each route and deployment gets a few requests a minute."""
    points = 0
    for minute in range(3 * 1440):
        at = (now - timedelta(minutes=minute + 1)).timestamp()
        for route in ROUTES:
            for status in ("200", "404", "500"):
                recorder.record("http", route, "POST", status, 0.02, bounds=HTTP_BUCKETS, at=at)
                points += 1
        for deployment in DEPLOYMENTS:
            for role in ("champion", "canary"):
                recorder.record("prediction", deployment, role, "ok", 0.004, project_id=DEFAULT_PROJECT_ID,
                                bounds=PREDICTION_BUCKETS, at=at)  # fmt: skip
                points += 1
        if minute % 240 == 0:
            recorder.flush_now()
    recorder.flush_now()
    return points


def measure(url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        services = build_platform(Settings(home=Path(home), database_url=url))
        upgrade(services.database)
        now = datetime.now(UTC)
        for writer in ("a", "b"):
            populate(SeriesRecorder(services.database, writer=writer), now)
        started = time.perf_counter()
        folded = series.compact(services.database)
        compact_seconds = time.perf_counter() - started
        with services.database.read() as session:
            rows = session.scalar(sa.text("SELECT count(*) FROM series_points"))
        services.alerts.apply(DEFAULT_PROJECT_ID, parse_spec(SPEC), by="bench")
        timings = []
        for _ in range(11):
            started = time.perf_counter()
            services.alerts.evaluate_project(DEFAULT_PROJECT_ID)
            timings.append(time.perf_counter() - started)
        services.close()
    return {"series_rows": rows, "minutes_folded": folded, "compact_seconds": compact_seconds,
            "first_evaluation_seconds": timings[0], "median_evaluation_seconds": statistics.median(timings[1:]),
            "rules": len(SPEC["slos"]) + len(SPEC["alerts"])}  # fmt: skip


def main() -> None:
    results = {"sqlite": measure(f"sqlite:///{tempfile.mkdtemp()}/bench.db")}
    with sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(sa.text("DROP SCHEMA IF EXISTS bench_alerts CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA bench_alerts"))
    try:
        results["postgresql"] = measure(f"{PG_URL}?options=-csearch_path%3Dbench_alerts,public")
    finally:
        with sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT").connect() as connection:
            connection.execute(sa.text("DROP SCHEMA IF EXISTS bench_alerts CASCADE"))
    for store, result in results.items():
        first, then = result["first_evaluation_seconds"] * 1000, result["median_evaluation_seconds"] * 1000
        print(f"{store:10} {result['rules']} rules over {result['series_rows']:,} series rows: first evaluation "
              f"{first:.0f} ms, then {then:.0f} ms (compaction of {result['minutes_folded']:,} minutes: "
              f"{result['compact_seconds']:.1f} s)")  # fmt: skip
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
