"""Notification delivery at shutdown: a dead receiver neither holds the process up nor outlives the store."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from shipyard.events.delivery import RETRY_DELAYS
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.monitoring.notifiers import Notice, NotificationSender, NotifierTarget
from shipyard.platform import Platform
from shipyard.secretbox import SecretBox
from shipyard.store import AlertNotifierRow
from tests.conftest import wait_until
from tests.webhook_receiver import loopback_receivers, webhook_receiver


def notice(n: int) -> Notice:
    labels = {"alertname": "errors", "deployment": f"d{n}"}
    return Notice("firing", labels, {"summary": "errors"}, datetime.now(UTC), None, f"fp{n}", f"alr_{n}", 1.0)


def test_close_gives_up_on_a_failing_receiver_and_records_the_last_outcome(
    services: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    with webhook_receiver() as receiver:
        receiver.fail_next.extend([503] * 100)  # every attempt fails: each delivery would retry for 7.5 s
        target = NotifierTarget("ntf_1", DEFAULT_PROJECT_ID, "pager", "webhook", receiver.url, {}, True)
        with services.database.write() as session:  # where the outcome is recorded
            session.add(AlertNotifierRow(
                id=target.id, project_id=DEFAULT_PROJECT_ID, name=target.name, kind=target.kind, url=target.url,
                match={}, send_resolved=True,
            ))  # fmt: skip
        sender = NotificationSender(services.database, loopback_receivers(RETRY_DELAYS), SecretBox())
        for n in range(3):
            sender.send(target, [notice(n)])
        wait_until(lambda: len(receiver.fail_next) < 100)  # the first delivery was answered 503: now in its backoff
        started = time.monotonic()
        sender.close(timeout=0.5)
        assert time.monotonic() - started < 5.0  # not 7.5 s for one delivery's retries, let alone 3 × 7.5 s
    assert sender.failed == 1 and sender.delivered == 0
    with services.database.read() as session:  # the one tried was recorded before close returned
        row = session.get(AlertNotifierRow, "ntf_1")
        assert row is not None and (row.last_status, row.last_error) == (503, "HTTP 503")
    sender.send(target, [notice(9)])  # a closed sender takes nothing more
    assert receiver.bodies == [] and sender.failed == 2
    logged = "".join(capsys.readouterr())
    assert "deliveries_abandoned_at_shutdown" in logged and "Traceback" not in logged


def test_a_closed_store_is_one_warning_line_not_a_traceback(
    services: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    with webhook_receiver() as receiver:
        target = NotifierTarget("ntf_1", DEFAULT_PROJECT_ID, "pager", "webhook", receiver.url, {}, True)
        sender = NotificationSender(services.database, loopback_receivers(), SecretBox())
        services.database.dispose()
        sender.send(target, [notice(1)])
        receiver.wait_for(1)
        sender.close()
    assert sender.delivered == 1
    logged = "".join(capsys.readouterr())
    assert "delivery_not_recorded" in logged and "metadata store was closed" in logged
    assert "Traceback" not in logged
