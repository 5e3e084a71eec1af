"""The in-process alert engine: burn rates, thresholds and anomalies over the stored series, the
lifecycle (pending → firing → resolved), deduplication, silences, repeats and notifications."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.monitoring.alerts import AlertService
from shipyard.monitoring.notifiers import NotificationSender
from shipyard.monitoring.rules import load_spec
from shipyard.monitoring.silences import SilenceSpec
from shipyard.platform import Platform
from shipyard.store.types import utcnow
from shipyard.telemetry.metrics import GENAI_DURATION_BUCKETS, HTTP_BUCKETS, PREDICTION_BUCKETS
from tests.webhook_receiver import Received, loopback_receivers, webhook_receiver


class Clock:
    def __init__(self) -> None:
        self.now = utcnow().replace(second=30, microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def receiver() -> Iterator[Received]:
    with webhook_receiver() as received:
        yield received


@pytest.fixture
def engine(services: Platform, clock: Clock, receiver: Received) -> Iterator[AlertService]:
    """The engine on a clock the test moves; it closes (delivering what is queued) before the receiver does."""
    sender = NotificationSender(services.database, loopback_receivers(), services.alerts.sender.secrets)
    service = AlertService(
        services.database, services.monitors, services.deployments, services.audit, sender,
        project_name=services.access.project_name, repeat_seconds=3600, flush=services.series.flush_now, clock=clock,
    )  # fmt: skip
    yield service
    service.sender.close()


def predictions(services: Platform, clock: Clock, ok: int, errors: int, *, minutes_ago: float = 1,
                role: str = "champion", seconds: float = 0.004) -> None:  # fmt: skip
    at = (clock.now - timedelta(minutes=minutes_ago)).timestamp()
    for status, count in (("ok", ok), ("error", errors)):
        for _ in range(count):
            services.series.record("prediction", "bikes", role, status, seconds, project_id=DEFAULT_PROJECT_ID,
                                   bounds=PREDICTION_BUCKETS, at=at)  # fmt: skip


def apply(engine: AlertService, text: str) -> None:
    engine.apply(DEFAULT_PROJECT_ID, load_spec(text), by="test")


def firing(engine: AlertService) -> dict[str, Any]:
    return {a.labels["alertname"] + ":" + a.severity: a for a in engine.list(DEFAULT_PROJECT_ID, state="firing").items}


SLO_SPEC = """
slos:
  - {{name: bikes-errors, objective: 99, sli: {{availability: {{deployment: bikes}}}}}}
notifiers:
  - {{name: oncall, webhook: "{url}/am", match: {{severity: page}}}}
  - {{name: chat, slack: "{url}/slack"}}
"""


def test_a_burning_slo_pages_once_and_resolves_when_the_burning_stops(
    services: Platform, engine: AlertService, clock: Clock, receiver: Received
) -> None:
    apply(engine, SLO_SPEC.format(url=receiver.url))
    predictions(services, clock, ok=80, errors=20, minutes_ago=2)  # 20 % errors against a 1 % budget
    predictions(services, clock, ok=10, errors=0, minutes_ago=1, role="shadow")  # shadows never count
    rules, opened, fired, resolved, sent = engine.evaluate_now(DEFAULT_PROJECT_ID)
    assert (rules, opened, fired, resolved) == (1, 2, 2, 0)
    alerts = firing(engine)
    page = alerts["ShipyardSLOBurnRateHigh:page"]
    assert alerts["ShipyardSLOBudgetBurn:ticket"].labels["severity"] == "ticket"
    assert page.labels == {"alertname": "ShipyardSLOBurnRateHigh", "severity": "page", "slo": "bikes-errors",
                           "project": "default", "deployment": "bikes"}  # fmt: skip
    assert page.value == pytest.approx(20.0)  # the burn rate: 0.2 / 0.01
    assert [h["state"] for h in page.history] == ["pending", "firing"]
    assert "error ratio 0.2 over 1h and 0.2 over 5m" in page.history[-1]["note"]
    engine.sender.drain()
    bodies = receiver.wait_for(3)  # the page to both notifiers, the ticket to chat only
    by_path = sorted(zip(receiver.paths, bodies, strict=True), key=lambda p: p[0])
    am = [b for path, b in by_path if path == "/am"]
    assert len(am) == 1 and am[0]["version"] == "4" and am[0]["status"] == "firing" and am[0]["receiver"] == "oncall"
    assert am[0]["groupLabels"] == {"alertname": "ShipyardSLOBurnRateHigh"}
    alert = am[0]["alerts"][0]
    assert alert["labels"]["slo"] == "bikes-errors" and alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["fingerprint"] == page.fingerprint and alert["generatorURL"].endswith(f"/v1/alerts/{page.id}")
    assert "is burning its 30-day error budget" in alert["annotations"]["summary"]
    slack = [b["text"] for path, b in by_path if path == "/slack"]
    assert any(t.startswith("*[FIRING:1] ShipyardSLOBurnRateHigh*") for t in slack)
    # Evaluating again changes nothing: one open alert per label set, no second notification.
    clock.advance(seconds=30)
    assert engine.evaluate_now(DEFAULT_PROJECT_ID)[1:] == (0, 0, 0, 0)
    assert len(engine.list(DEFAULT_PROJECT_ID).items) == 2
    # 40 minutes later the 5- and 30-minute windows are clean: the page resolves, the ticket stays.
    clock.advance(minutes=40)
    assert engine.evaluate_now(DEFAULT_PROJECT_ID)[3] == 1
    assert list(firing(engine)) == ["ShipyardSLOBudgetBurn:ticket"]
    resolved_page = engine.get(DEFAULT_PROJECT_ID, page.id)
    assert resolved_page.state == "resolved" and resolved_page.resolved_at == clock.now
    engine.sender.drain()
    receiver.wait_for(5)
    assert any(b["status"] == "resolved" and b["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
               for path, b in zip(receiver.paths, receiver.bodies, strict=True) if path == "/am")  # fmt: skip
    # The next burn is a new alert: the resolved one stays in the history.
    predictions(services, clock, ok=0, errors=50, minutes_ago=1)
    engine.evaluate_now(DEFAULT_PROJECT_ID)
    pages = engine.list(DEFAULT_PROJECT_ID, rule="bikes-errors", severity="page").items
    assert [a.state for a in pages] == ["firing", "resolved"]


def test_threshold_rules_wait_for_enough_events_and_their_for_duration(
    services: Platform, engine: AlertService, clock: Clock
) -> None:
    apply(engine, """
alerts:
  - name: ask-errors
    threshold: {signal: error_rate, route: /v1/ask, method: post}
    window: 5m
    above: 0.1
    min_events: 20
    for: 2m
""")  # fmt: skip

    def requests(ok: int, errors: int) -> None:
        at = (clock.now - timedelta(minutes=1)).timestamp()
        for status, count in (("200", ok), ("500", errors)):
            for _ in range(count):
                services.series.record("http", "/v1/ask", "POST", status, 0.02, bounds=HTTP_BUCKETS, at=at)

    requests(ok=5, errors=5)  # 50 % errors, but only 10 requests: no verdict
    assert engine.evaluate_now(DEFAULT_PROJECT_ID)[1] == 0
    requests(ok=0, errors=10)  # another route's errors would not count; these do
    services.series.record("http", "/v1/chat/completions", "POST", "500", 0.02, bounds=HTTP_BUCKETS)
    assert engine.evaluate_now(DEFAULT_PROJECT_ID)[1:3] == (1, 0)  # pending: `for: 2m` has not elapsed
    (alert,) = engine.list(DEFAULT_PROJECT_ID, state="pending").items
    assert alert.value == pytest.approx(0.75) and alert.labels["route"] == "/v1/ask"
    clock.advance(minutes=2)
    requests(ok=0, errors=20)
    assert engine.evaluate_now(DEFAULT_PROJECT_ID)[2] == 1
    assert engine.get(DEFAULT_PROJECT_ID, alert.id).state == "firing"


def test_a_silence_holds_notifications_back_until_it_expires(
    services: Platform, engine: AlertService, clock: Clock, receiver: Received
) -> None:
    apply(engine, SLO_SPEC.format(url=receiver.url))
    matchers = {"slo": "bikes-errors", "alertname": "~ShipyardSLO.*"}
    spec = SilenceSpec.of(matchers=matchers, duration=timedelta(hours=1), comment="known: fixing the bad build")
    silence = engine.silences.create(DEFAULT_PROJECT_ID, spec, by="test")
    predictions(services, clock, ok=0, errors=100, minutes_ago=1)
    engine.evaluate_now(DEFAULT_PROJECT_ID)
    alerts = firing(engine)
    assert {a.silenced_by for a in alerts.values()} == {silence.id}
    engine.sender.drain()
    assert receiver.bodies == []
    engine.silences.expire(DEFAULT_PROJECT_ID, silence.id)
    assert engine.silences.list(DEFAULT_PROJECT_ID) == []
    assert [s.id for s in engine.silences.list(DEFAULT_PROJECT_ID, include_expired=True)] == [silence.id]
    clock.advance(seconds=1)
    predictions(services, clock, ok=0, errors=100, minutes_ago=1)
    engine.evaluate_now(DEFAULT_PROJECT_ID)
    engine.sender.drain()
    assert len(receiver.wait_for(3)) == 3
    assert all(a.silenced_by is None for a in firing(engine).values())


@pytest.mark.parametrize(
    ("matchers", "comment", "message"),
    [({}, "x", "at least one matcher"), ({"a": "~("}, "x", "not a regular expression"), ({"a": "b"}, " ", "comment")],
)
def test_bad_silences_are_clear_errors(engine: AlertService, matchers: dict[str, str], comment: str,
                                       message: str) -> None:  # fmt: skip
    with pytest.raises(InvalidInput, match=message):
        spec = SilenceSpec.of(matchers=matchers, duration=timedelta(hours=1), comment=comment)
        engine.silences.create(DEFAULT_PROJECT_ID, spec, by="t")


def test_a_firing_alert_is_notified_again_after_the_repeat_interval(
    services: Platform, engine: AlertService, clock: Clock, receiver: Received
) -> None:
    apply(engine, f"""
alerts:
  - {{name: slow-bikes, threshold: {{signal: latency_p95, deployment: bikes}}, window: 1h, above: 0.1}}
notifiers:
  - {{name: oncall, webhook: "{receiver.url}/am"}}
""")  # fmt: skip
    for minute in (50, 30, 1):  # a p95 of ~0.5 s, 50 minutes long: still above 0.1 s an hour on
        predictions(services, clock, ok=50, errors=0, minutes_ago=minute, seconds=0.4)
    engine.evaluate_now(DEFAULT_PROJECT_ID)
    (alert,) = firing(engine).values()
    assert 0.25 < (alert.value or 0) <= 0.5
    clock.advance(minutes=30)
    engine.evaluate_now(DEFAULT_PROJECT_ID)
    clock.advance(minutes=31)
    predictions(services, clock, ok=50, errors=0, minutes_ago=1, seconds=0.4)
    engine.evaluate_now(DEFAULT_PROJECT_ID)
    engine.sender.drain()
    assert [b["status"] for b in receiver.wait_for(2)] == ["firing", "firing"]


def test_an_anomaly_rule_flags_a_latency_never_seen_before(
    services: Platform, engine: AlertService, clock: Clock, receiver: Received
) -> None:
    apply(engine, f"""
alerts:
  - {{name: bikes-latency-anomaly, anomaly: {{signal: latency_p95, deployment: bikes}}, severity: ticket}}
notifiers:
  - {{name: chat, slack: "{receiver.url}/slack"}}
""")  # fmt: skip
    for minute in range(400, 0, -1):  # 400 minutes of a p95 under 5 ms
        predictions(services, clock, ok=20, errors=0, minutes_ago=minute, seconds=0.003 if minute % 3 else 0.0045)
    engine.evaluate_now(DEFAULT_PROJECT_ID)
    assert firing(engine) == {}
    clock.advance(minutes=1)
    predictions(services, clock, ok=20, errors=0, minutes_ago=1, seconds=0.6)  # the minute just over: 600 ms
    engine.evaluate_now(DEFAULT_PROJECT_ID)
    (alert,) = firing(engine).values()
    assert alert.labels["signal"] == "latency_p95" and alert.severity == "ticket"
    assert "is new behaviour" in alert.history[-1]["note"]
    engine.sender.drain()
    assert "anomaly in latency p95 of deployment bikes" in receiver.wait_for(1)[0]["text"]
    # Quiet again for longer than `hold` (15 minutes): resolved.
    for minute in range(1, 20):
        predictions(services, clock, ok=20, errors=0, minutes_ago=-minute, seconds=0.003)
    clock.advance(minutes=20)
    engine.evaluate_now(DEFAULT_PROJECT_ID)
    assert firing(engine) == {}


def test_applying_a_spec_replaces_the_configuration(
    engine: AlertService, services: Platform, clock: Clock, receiver: Received
) -> None:
    apply(engine, SLO_SPEC.format(url=receiver.url))
    predictions(services, clock, ok=0, errors=100, minutes_ago=1)
    engine.evaluate_now(DEFAULT_PROJECT_ID)
    assert len(firing(engine)) == 2
    config = engine.config(DEFAULT_PROJECT_ID)
    assert config["slos"][0]["name"] == "bikes-errors" and [n["name"] for n in config["notifiers"]] == [
        "chat",
        "oncall",
    ]
    assert load_spec(yaml.safe_dump(config)).slos[0].objective == 99  # what GET returns can be applied again
    apply(engine, "alerts: [{name: quiet, threshold: {signal: requests}, below: 0.5, window: 10m}]")
    config = engine.config(DEFAULT_PROJECT_ID)
    assert config == {"alerts": [{"name": "quiet", "threshold": {"signal": "requests"}, "window": "10m", "below": 0.5}]}
    clock.advance(seconds=1)
    engine.evaluate_now(DEFAULT_PROJECT_ID)
    resolved = engine.list(DEFAULT_PROJECT_ID, rule="bikes-errors").items
    assert {a.state for a in resolved} == {"resolved"}
    assert resolved[0].history[-1]["note"] == "rule removed or changed"
    assert list(firing(engine)) == ["quiet:page"]  # no HTTP traffic at all: fewer than 0.5 requests a minute


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alerts: [{name: a, threshold: {signal: error_rate}, above: 0.1, below: 0.2}]", "one of above or below"),
        ("alerts: [{name: a, threshold: {signal: nope}, above: 1}]", "alerts.0.threshold.signal"),
        ("alerts: [{name: a, threshold: {signal: tokens, deployment: b}, above: 1}]", "signal of LLM calls"),
        ("alerts: [{name: a, anomaly: {signal: requests}, drift: {monitor: m}}]", "exactly one of threshold"),
        ("alerts: [{name: a, threshold: {signal: requests}, above: 1, window: 30s}]", "between 1m and 3d"),
        ("alerts: [{name: a, threshold: {signal: requests, route: /x}, above: 1, action: rollback_canary}]",
         "needs a rule on a deployment"),
        ("slos: [{name: a, objective: 99, sli: {availability: {}}, action: rollback_canary}]", "SLI on a deployment"),
        ("alerts: [{name: a, threshold: {signal: requests}, above: 1}, {name: a, drift: {monitor: m}}]", "used twice"),
        ("notifiers: [{name: n, webhook: ftp://x}]", "must start with http"),
        ("notifiers: [{name: n, webhook_env: SHIPYARD_TEST_NOPE}]", "SHIPYARD_TEST_NOPE is not set"),
        ("colour: red", "colour"),
    ],
)  # fmt: skip
def test_bad_specs_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ShipyardError, match=message):
        for notifier in load_spec(text).notifiers:  # URLs are read when a spec is applied (here: an operator's)
            notifier.resolved_url(environment=True)


def test_a_drift_rule_needs_an_existing_monitor(engine: AlertService) -> None:
    with pytest.raises(ShipyardError, match="no monitor named 'nope'"):
        apply(engine, "alerts: [{name: a, drift: {monitor: nope}}]")


def test_one_evaluator_at_a_time(engine: AlertService) -> None:
    assert not engine.evaluate(holder="a", lease_seconds=60).skipped
    assert engine.evaluate(holder="b", lease_seconds=60).skipped  # a holds the lease
    assert not engine.evaluate(holder="a", lease_seconds=60).skipped  # renewing it


def test_a_rule_that_cannot_be_evaluated_leaves_its_alerts_alone(
    services: Platform, engine: AlertService, clock: Clock, receiver: Received
) -> None:
    from shipyard.store import AlertRuleRow

    apply(
        engine,
        SLO_SPEC.format(url=receiver.url) + "alerts: [{name: q, threshold: {signal: requests}, below: 1}]",
    )
    predictions(services, clock, ok=0, errors=100, minutes_ago=1)
    engine.evaluate_now(DEFAULT_PROJECT_ID)
    assert len(firing(engine)) == 3
    with services.database.write() as session:  # a rule stored by a version that wrote another shape
        row = session.query(AlertRuleRow).filter_by(name="bikes-errors").one()
        row.spec = {**row.spec, "objective": "ninety-nine"}
    clock.advance(hours=2)  # the burn is over: a readable rule would resolve
    rules, opened, fired, resolved, _ = engine.evaluate_now(DEFAULT_PROJECT_ID)
    assert (rules, resolved) == (2, 0)  # the broken SLO's page and ticket stay open; q is still firing
    assert len(firing(engine)) == 3


def test_an_llm_latency_slo_counts_the_slow_calls_of_its_model(
    services: Platform, engine: AlertService, clock: Clock
) -> None:
    apply(engine, "slos: [{name: chat-latency, objective: 99, sli: {latency: {model: chat, threshold: 2.56}}}]")
    at = (clock.now - timedelta(minutes=2)).timestamp()
    for model, seconds, count in (("chat", 0.3, 90), ("chat", 5.0, 10), ("big", 30.0, 50)):
        for _ in range(count):
            services.series.record("llm", model, "local/m1", "ok", seconds, project_id=DEFAULT_PROJECT_ID,
                                   bounds=GENAI_DURATION_BUCKETS, at=at)  # fmt: skip
    engine.evaluate_now(DEFAULT_PROJECT_ID)
    alerts = firing(engine)  # 10 % slow against a 1 % budget: 10× — the 6× page and the ticket
    assert sorted(alerts) == ["ShipyardSLOBudgetBurn:ticket", "ShipyardSLOBurnRateHigh:page"]
    assert alerts["ShipyardSLOBudgetBurn:ticket"].value == pytest.approx(10.0)  # big's slow calls are not chat's
