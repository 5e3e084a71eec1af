"""The anomaly detector: online, one incident one flag, new levels and new moves, bad input;
the NAB scorer's fixed points; and `shipyard anomalies detect` on a real NAB series."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from bench.nab_score import load_corpus, normalised
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.monitoring.anomaly import DetectorConfig, detect
from tests.examples import shared_data

NAB = shared_data() / "nab"


def rng(seed: int = 7) -> np.random.Generator:
    """Each test draws its own numbers: a shared generator would give a test other data whenever
    the tests before it in the same worker change (pytest-xdist spreads them differently per run)."""
    return np.random.default_rng(seed)


def daily(rows: int, seed: int = 7) -> np.ndarray:
    """A CPU-like series: a daily cycle (288 five-minute rows) plus noise."""
    t = np.arange(rows)
    return 40 + 10 * np.sin(2 * np.pi * t / 288) + rng(seed).normal(0, 1.5, rows)


def test_a_spike_to_a_level_never_seen_is_flagged_once() -> None:
    values = daily(3000)
    values[2000:2010] = 95.0  # ten rows at a level the series never reached
    flags = [i for i, p in enumerate(detect(values)) if p.anomaly]
    assert 2000 in flags
    assert not [i for i in flags if 2000 < i < 2100]  # the cooldown: one incident, one flag
    points = detect(values)
    assert (points[2000].score, points[2000].reason) == (1.0, "new level")


def test_the_score_of_a_row_never_depends_on_later_rows() -> None:
    values = daily(2500)
    changed = values.copy()
    changed[1800:] = rng().normal(500, 50, 700)
    assert detect(values)[:1800] == detect(changed)[:1800]


def test_warm_up_rows_are_never_flagged_and_a_regular_series_stays_quiet() -> None:
    values = daily(4000)
    points = detect(values)
    assert not any(p.anomaly for p in points[: DetectorConfig().warmup])
    assert sum(p.anomaly for p in points) <= 3  # a few extremes of the noise, at most


def test_a_new_kind_of_move_is_flagged_after_the_long_warm_up() -> None:
    values = np.tile([10.0, 10.0, 90.0, 90.0], 500)  # it has seen 10↔90 swings
    values = np.concatenate([values, [10.0, 50.0, 10.0]])  # 50 is inside the range, but new
    points = detect(values)
    assert points[-2].anomaly and points[-2].reason == "new level"
    config = DetectorConfig(levels=2, transition_levels=4, transition_warmup=100)
    levels = np.concatenate([np.tile([10.0, 30.0], 300), [90.0, 30.0, 10.0, 90.0]])
    moves = detect(levels, config)
    assert moves[-4].reason == "new level" and moves[-1].reason == "new move" and moves[-1].score == 0.5


def test_missing_and_infinite_values_score_zero_and_change_nothing() -> None:
    values = list(daily(600))
    with_gaps = values[:400] + [math.nan, math.inf] + values[400:]
    points = detect(with_gaps)
    assert points[400].score == points[401].score == 0.0 and not points[400].anomaly
    assert [p.score for p in points[402:]] == [p.score for p in detect(values)[400:]]
    constant = detect([5.0] * 300 + [5.0, 7.0])
    assert constant[-1].anomaly  # a flat warm-up still gets a scale


def test_nab_scorer_fixed_points() -> None:
    corpus = load_corpus(NAB)
    # Every labelled series and window of the shared corpus (its README: 51 series, 97 windows).
    labelled = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    assert len(corpus) == len(labelled) and sum(len(s.windows) for s in corpus) == sum(map(len, labelled.values()))
    assert normalised(corpus, [[] for _ in corpus], "standard") == 0.0
    assert normalised(corpus, [[left for left, _ in s.windows] for s in corpus], "standard") == pytest.approx(100.0)
    # Firing at the last row of every window is worth almost nothing; far false positives cost.
    late = normalised(corpus, [[right for _, right in s.windows] for s in corpus], "standard")
    assert 45 < late < 55
    far = normalised(corpus, [[s.probation] for s in corpus], "standard")
    assert far < 0


def test_cli_on_a_real_nab_series(tmp_path: Path) -> None:
    path = NAB / "data" / "realAWSCloudwatch" / "ec2_cpu_utilization_24ae8d.csv"
    runner = CliRunner()
    result = runner.invoke(app, ["anomalies", "detect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 4032 and set(rows[0]) == {"timestamp", "value", "score", "anomaly", "reason"}
    flagged = [r["timestamp"] for r in rows if r["anomaly"]]
    # NAB's labelled anomalies (combined_labels.json) are flagged on their very rows.
    assert {"2014-02-26 22:05:00", "2014-02-27 17:15:00"} <= set(flagged)
    human = runner.invoke(app, ["anomalies", "detect", str(path)])
    assert f"{len(flagged)} anomalies in 4032 rows" in human.stdout

    (tmp_path / "bad.csv").write_text("time,val\n2026-01-01,1\n")
    bad = runner.invoke(app, ["anomalies", "detect", str(tmp_path / "bad.csv")])
    assert bad.exit_code == 1 and "must start with the header timestamp,value" in bad.stderr
    (tmp_path / "words.csv").write_text("timestamp,value\n2026-01-01,1\n2026-01-02,lots\n")
    words = runner.invoke(app, ["anomalies", "detect", str(tmp_path / "words.csv")])
    assert words.exit_code == 1 and "1 value(s) are not numbers (first: 'lots')" in words.stderr
    missing = runner.invoke(app, ["anomalies", "detect", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1 and "no such file" in missing.stderr


def test_a_degenerate_warm_up_is_re_cut_once_the_series_moves() -> None:
    """A disk that wrote nothing during the warm-up: the first real values are flagged once, then
    the levels are cut over the real range instead of flagging every new byte count."""
    values = np.concatenate([np.zeros(300), np.abs(rng().normal(2e8, 5e7, 2000))])
    flags = [i for i, p in enumerate(detect(values)) if p.anomaly]
    # Over 40 seeds: 4-10 flags (noise alone, without the zeros, gets 0-7), never more than half
    # of what the detector gives without the re-cut.
    assert flags[0] == 300 and len(flags) <= 10
    unregridded = sum(p.anomaly for p in detect(values, DetectorConfig(regrid_growth=math.inf)))
    assert unregridded >= 2 * len(flags)  # what it did before: a flag every cooldown


def test_a_stuck_value_is_flagged_when_it_outlasts_every_earlier_run() -> None:
    values = daily(2000)
    values[1200:1300] = 40.0  # a frozen gauge: a familiar value, an unfamiliar run
    points = detect(values)
    stuck = [i for i, p in enumerate(points) if p.reason == "stuck"]
    assert stuck == [1200 + DetectorConfig().min_stuck] and points[stuck[0]].anomaly
    assert not any(p.reason == "stuck" for p in detect([3.0] * 600))  # never changed: not stuck


def test_the_state_round_trips_between_evaluations() -> None:
    from shipyard.monitoring.anomaly import AnomalyDetector

    values = daily(3000)
    values[2500:2510] = 95.0
    whole = detect(values)
    first = AnomalyDetector()
    head = [first.update(float(v)) for v in values[:1700]]
    second = AnomalyDetector.from_dict(json.loads(json.dumps(first.to_dict())))
    assert head + [second.update(float(v)) for v in values[1700:]] == whole
