"""Drift on real data (../shared/data): seasons and years of bike sharing, the adult census split.

The expected scores are Evidently 0.7.23's own output on the same windows (bench/drift.py runs
both side by side and requires identical verdicts); here they pin shipyard's results without
Evidently installed.
"""

from __future__ import annotations

import pandas as pd
import pytest

from shipyard.monitoring import detect_drift
from tests.examples import example


@pytest.fixture(scope="module")
def bike() -> tuple[pd.DataFrame, list[str]]:
    module = example("bike")
    return module.load_hours(), [*module.FEATURES, module.TARGET]


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    module = example("adult")
    return module.load("adult.data.gz"), module.load("adult.test.gz"), [*module.NUMERIC, *module.CATEGORICAL]


def test_a_model_trained_on_early_2011_sees_drift_in_summer_2012(bike: tuple[pd.DataFrame, list[str]]) -> None:
    hours, columns = bike
    early = hours[hours["dteday"] < "2011-03-01"][columns]
    summer = hours[(hours["dteday"] >= "2012-06-01") & (hours["dteday"] < "2012-09-01")][columns]
    report = detect_drift(early, summer)
    assert report.status == "drift"
    drifted = {c.column for c in report.columns if c.drifted}
    assert drifted == {"temp", "atemp", "hum", "windspeed", "cnt", "season", "mnth"}
    evidently = {"temp": 4.460380887122866, "cnt": 3.7906980145347213, "season": 0.8325546111576977,
                 "hr": 0.04825848272804256, "weathersit": 0.08484957649349548}  # fmt: skip
    for column, score in evidently.items():
        assert report.column(column).score == pytest.approx(score, rel=1e-9)


def test_two_random_halves_of_one_period_do_not_drift(bike: tuple[pd.DataFrame, list[str]]) -> None:
    hours, columns = bike
    early = hours[hours["dteday"] < "2011-03-01"][columns].sample(frac=1.0, random_state=7)
    half = len(early) // 2
    report = detect_drift(early.iloc[:half], early.iloc[half:])
    assert report.status == "no_drift"
    assert report.drifted_columns <= 1  # 12 tests at p < 0.05: one false alarm is expected now and then
    assert report.column("cnt").method == "ks"  # ≤ 1,000 reference rows: p-value tests
    assert report.column("cnt").score == pytest.approx(0.16788806305649323, rel=1e-9)


def test_the_adult_train_test_split_does_not_drift(adult: tuple[pd.DataFrame, pd.DataFrame, list[str]]) -> None:
    train, test, columns = adult
    report = detect_drift(train[columns], test[columns])
    assert (report.status, report.drifted_columns) == ("no_drift", 0)


def test_one_occupation_against_the_census_drifts(adult: tuple[pd.DataFrame, pd.DataFrame, list[str]]) -> None:
    train, test, columns = adult
    managers = test[test["occupation"] == "Exec-managerial"]
    report = detect_drift(train[columns], managers[columns])
    assert report.status == "drift"
    assert {c.column for c in report.columns if not c.drifted} == {"marital_status", "race", "sex", "native_country"}
    assert report.column("occupation").score == pytest.approx(0.7050307321077423, rel=1e-9)
    assert report.column("education_num").score == pytest.approx(0.5385486262000042, rel=1e-9)
