"""Silence matchers are RE2 (Alertmanager's syntax), run in linear time: a tenant's pattern cannot
stall the evaluator every project shares, and what RE2 refuses is a 400 naming the matcher."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from shipyard.auth import Role
from shipyard.errors import InvalidInput
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.monitoring import silences
from shipyard.monitoring.silences import Silences, SilenceSpec
from shipyard.platform import Platform
from shipyard.store import AlertSilenceRow
from shipyard.store.types import utcnow
from tests.conftest import LiveServer

# The audit's reproduction: with Python's `re`, 1 s on a 25-character rule name, ×1.7 per character.
CATASTROPHIC = "~(a+)+$"


def _spec(matchers: dict[str, str], comment: str) -> SilenceSpec:
    return SilenceSpec.of(matchers=matchers, duration=timedelta(hours=1), comment=comment)


def error_of(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["message"]
    return error  # type: ignore[no-any-return]


def test_a_catastrophic_pattern_matches_in_linear_time(services: Platform) -> None:
    store = Silences(services.database)
    silence = store.create(DEFAULT_PROJECT_ID, _spec({"alertname": CATASTROPHIC}, "audit reproduction"), by="t")
    active = store.active(DEFAULT_PROJECT_ID)
    for length in (25, 10_000):
        name = "a" * length + "!"  # no match: the case that backtracks
        started = time.thread_time()  # CPU time of this thread (where RE2 runs): deaf to a busy machine
        assert store.silencing(active, {"alertname": name}) is None
        assert time.thread_time() - started < 0.01, f"{length} characters"
        assert store.silencing(active, {"alertname": "a" * length}) == silence.id


def test_the_evaluator_applies_silences_with_a_catastrophic_pattern_among_them(live: LiveServer) -> None:
    headers = live.key(Role.EDITOR)
    rule = "a" * 27 + "-x"  # a rule name `(a+)+$` fails on: seconds of backtracking with Python's `re`
    spec = {"alerts": [{"name": rule, "threshold": {"signal": "requests"}, "above": -1}]}
    assert live.client.put("/v1/alerts/config", json=spec, headers=headers).status_code == 200
    body = {"matchers": {"alertname": "~a+-[a-z]"}, "duration": "1h", "comment": "the one that matches"}
    silence = live.client.post("/v1/alerts/silences", json=body, headers=headers).json()
    body = {"matchers": {"alertname": CATASTROPHIC}, "duration": "1h", "comment": "audit reproduction"}
    assert live.client.post("/v1/alerts/silences", json=body, headers=headers).status_code == 201  # tried first
    started = time.perf_counter()
    counts = live.client.post("/v1/alerts/evaluate", headers=headers).json()
    assert time.perf_counter() - started < 3.0  # the catastrophic pattern alone backtracks for many seconds
    assert counts["rules"] == 1, counts
    alert = live.client.get("/v1/alerts", params={"rule": rule}, headers=headers).json()["data"][0]
    assert alert["state"] == "firing" and alert["silenced_by"] == silence["id"]


def test_a_silence_with_alertmanager_regex_syntax_silences(services: Platform) -> None:
    """RE2 syntax, whole value: what Alertmanager accepts works, a partial match does not."""
    store = Silences(services.database)
    labels = {"alertname": "ShipyardSLOBurnRateHigh", "slo": "bikes-errors", "severity": "page"}
    matching = {"alertname": r"~ShipyardSLO(BurnRateHigh|BudgetBurn)", "slo": r"~\p{Ll}+-[[:alpha:]]+"}
    silence = store.create(DEFAULT_PROJECT_ID, _spec(matching, "known"), by="t")
    store.create(DEFAULT_PROJECT_ID, _spec({"alertname": "~ShipyardSLO"}, "partial"), by="t")
    assert store.silencing(store.active(DEFAULT_PROJECT_ID), labels) == silence.id
    assert store.silencing(store.active(DEFAULT_PROJECT_ID), {**labels, "slo": "Bikes-errors"}) is None


@pytest.mark.parametrize(
    ("matchers", "message"),
    [
        ({"alertname": r"~(a)\1"}, r"matcher alertname=~\(a\)\\1: not a regular expression RE2 accepts"),
        ({"slo": "~(?=bikes)b.*"}, "matcher slo=~"),
        ({"slo": "~" + "a" * 1001}, "patterns are at most 1,000 characters"),
        ({"slo": "~.{1000}"}, "more than 2,000"),
        ({f"l{i}": "x" for i in range(21)}, "at most 20 matchers"),
        ({"a" * 1001: "x"}, "at most 1,000 characters"),
        ({"slo": "~bikes-\ud800"}, "not valid Unicode"),  # JSON can carry a lone surrogate; UTF-8 cannot
    ],
)  # fmt: skip
def test_matchers_re2_refuses_are_400s_naming_the_matcher(
    live: LiveServer, matchers: dict[str, str], message: str
) -> None:
    body = json.dumps({"matchers": matchers, "duration": "1h", "comment": "c"})  # ASCII: \ud800 escaped
    headers = {**live.key(Role.EDITOR), "Content-Type": "application/json"}
    error = error_of(live.client.post("/v1/alerts/silences", content=body, headers=headers))
    assert re.search(message, error["message"]), error["message"]


def test_a_refused_pattern_is_told_to_the_caller_only(services: Platform, capfd: pytest.CaptureFixture[str]) -> None:
    """RE2 would also print its parse error to stderr (absl logging), once per request."""
    with pytest.raises(InvalidInput, match=r"invalid escape sequence: \\1"):
        Silences(services.database).create(DEFAULT_PROJECT_ID, _spec({"a": r"~(b)\1"}, "c"), by="t")
    assert "re2" not in capfd.readouterr().err


def test_a_project_has_a_bounded_number_of_silences(services: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(silences, "MAX_ACTIVE_SILENCES", 2)
    store = Silences(services.database)
    made = [store.create(DEFAULT_PROJECT_ID, _spec({"a": "b"}, "c"), by="t")
            for _ in range(2)]  # fmt: skip
    with pytest.raises(InvalidInput, match="expire some first"):
        store.create(DEFAULT_PROJECT_ID, _spec({"a": "b"}, "c"), by="t")
    store.expire(DEFAULT_PROJECT_ID, made[0].id)
    store.create(DEFAULT_PROJECT_ID, _spec({"a": "b"}, "c"), by="t")


def test_a_stored_pattern_re2_refuses_silences_nothing(services: Platform) -> None:
    """A silence written before RE2 (Python's `re` took lookarounds) notifies rather than hides."""
    now = utcnow()
    with services.database.write() as session:
        session.add(AlertSilenceRow(id="sil_old", project_id=DEFAULT_PROJECT_ID, matchers={"slo": "~(?=b)bikes"},
                                    starts_at=now, ends_at=now + timedelta(hours=1), comment="old", created_by="t",
                                    created_at=now))  # fmt: skip
    store = Silences(services.database)
    assert store.silencing(store.active(DEFAULT_PROJECT_ID), {"slo": "bikes"}) is None
