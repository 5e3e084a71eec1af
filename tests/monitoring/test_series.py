"""The platform's per-minute series: what processes record is what alert rules read."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.platform import Platform
from shipyard.store import SeriesPointRow
from shipyard.telemetry import series
from shipyard.telemetry.metrics import PREDICTION_BUCKETS
from shipyard.telemetry.series import SeriesQuery, SeriesRecorder

BIKES = SeriesQuery("prediction", DEFAULT_PROJECT_ID, "bikes")


def _minute(ago_minutes: int) -> float:
    return (int(time.time() // 60) - ago_minutes) * 60 + 1.0


def test_processes_write_their_own_rows_and_readers_sum_them(services: Platform) -> None:
    one = SeriesRecorder(services.database, writer="one")
    two = SeriesRecorder(services.database, writer="two")
    at = _minute(0)  # this minute: still in memory after a flush, so written rows are updated
    for recorder, statuses in ((one, ["ok", "ok", "error"]), (two, ["ok", "error"])):
        for status in statuses:
            recorder.record("prediction", "bikes", "champion", status, 0.004, project_id=DEFAULT_PROJECT_ID,
                            bounds=PREDICTION_BUCKETS, at=at)  # fmt: skip
        recorder.flush_now()
    one.record("prediction", "bikes", "champion", "ok", 2.0, project_id=DEFAULT_PROJECT_ID, bounds=PREDICTION_BUCKETS,
               at=at)  # fmt: skip
    one.flush_now()  # the same minute again: the writer updates its row, it does not add one
    with services.database.read() as session:
        assert session.query(SeriesPointRow).count() == 4  # 2 writers × 2 statuses
    samples = series.read(services.database, BIKES, datetime.now(UTC) - timedelta(hours=1))
    by_status = {s.status: s for s in samples}
    assert by_status["ok"].count == 4 and by_status["error"].count == 2
    assert by_status["ok"].total == 0.004 * 3 + 2.0
    assert by_status["ok"].buckets is not None
    assert by_status["ok"].buckets[PREDICTION_BUCKETS.index(0.005)] == 3  # 4 ms falls in le=0.005
    assert by_status["ok"].buckets[PREDICTION_BUCKETS.index(2.5)] == 1
    # Other projects, deployments and series are not mixed in.
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    assert series.read(services.database, SeriesQuery("prediction", "prj_other", "bikes"), long_ago) == []
    assert series.read(services.database, SeriesQuery("http"), long_ago) == []


def test_old_minutes_fold_into_hours_without_losing_a_count(services: Platform) -> None:
    recorder = SeriesRecorder(services.database, writer="w")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=12)
    for minute in range(120):  # two whole hours, 12 and 11 hours ago
        at = (start + timedelta(minutes=minute)).timestamp()
        recorder.record("prediction", "bikes", "champion", "ok", 0.01, project_id=DEFAULT_PROJECT_ID,
                        bounds=PREDICTION_BUCKETS, at=at)  # fmt: skip
        if minute % 30 == 0:
            recorder.record("prediction", "bikes", "champion", "error", 0.01, project_id=DEFAULT_PROJECT_ID,
                            bounds=PREDICTION_BUCKETS, at=at)  # fmt: skip
    recorder.record("prediction", "bikes", "champion", "ok", 0.01, project_id=DEFAULT_PROJECT_ID,
                    bounds=PREDICTION_BUCKETS)  # now: stays a minute  # fmt: skip
    recorder.flush_now()
    since = start - timedelta(hours=1)
    before = series.read(services.database, BIKES, since)
    assert series.compact(services.database) == 124
    assert series.compact(services.database) == 0  # idempotent
    after = series.read(services.database, BIKES, since)
    assert sum(s.count for s in after) == sum(s.count for s in before) == 125
    hours = [s for s in after if s.resolution == 3600]
    assert [(s.minute, s.status, s.count) for s in hours] == [
        (start, "error", 2.0), (start, "ok", 60.0),
        (start + timedelta(hours=1), "error", 2.0), (start + timedelta(hours=1), "ok", 60.0),
    ]  # fmt: skip
    assert [s.resolution for s in after if s not in hours] == [60]
    assert series.delete_older_than(services.database, 1) == 0
    assert series.delete_older_than(services.database, 0) >= 4
