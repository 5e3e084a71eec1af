"""Drift verdicts: Evidently's defaults, exact statistics, configuration, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from shipyard.errors import InvalidInput
from shipyard.monitoring import ColumnTest, DriftConfig, detect_drift
from shipyard.monitoring.drift import column_drift, infer_kind

RNG = np.random.default_rng(42)


@pytest.fixture(autouse=True)
def _fresh_numbers() -> None:
    """Every test starts from the same generator state, whichever tests ran before it in its worker."""
    global RNG
    RNG = np.random.default_rng(42)


def normal(n: int, mean: float = 0.0, sd: float = 1.0) -> pd.Series:
    return pd.Series(RNG.normal(mean, sd, n))


@pytest.mark.parametrize(
    ("ref_rows", "values", "kind", "method"),
    [
        (500, None, "numeric", "ks"),  # small reference, many values
        (500, [1.0, 2.0, 3.0, 4.0], "numeric", "chisquare"),  # numeric with 3-5 values
        (500, [0.0, 1.0], "numeric", "z"),
        (500, ["a", "b", "c"], "categorical", "chisquare"),
        (500, ["a", "b"], "categorical", "z"),
        (1000, None, "numeric", "ks"),  # 1,000 is still "small"
        (1001, None, "numeric", "wasserstein"),
        (2000, [1.0, 2.0, 3.0], "numeric", "jensenshannon"),
        (2000, ["a", "b"], "categorical", "jensenshannon"),
    ],
)
def test_default_method_follows_evidently(ref_rows: int, values: list | None, kind: str, method: str) -> None:
    def draw(n: int) -> pd.Series:
        return normal(n) if values is None else pd.Series(RNG.choice(values, n))

    result = column_drift("x", draw(ref_rows), draw(300), ColumnTest(kind=kind))  # type: ignore[arg-type]
    assert (result.kind, result.method) == (kind, method)
    assert result.score_kind == ("distance" if method in ("wasserstein", "jensenshannon") else "p_value")


def test_integer_columns_with_few_values_are_categorical() -> None:
    assert infer_kind(pd.Series([1, 2, 3] * 100)) == "categorical"
    assert infer_kind(pd.Series(range(300))) == "numeric"
    assert infer_kind(pd.Series([0.5, 1.5] * 100)) == "numeric"
    assert infer_kind(pd.Series(["x", "y"] * 100)) == "categorical"
    assert infer_kind(pd.Series([True, False] * 100)) == "categorical"


def test_wasserstein_equals_scipy_normed_by_reference_std() -> None:
    ref, cur = normal(5000), pd.Series(np.round(RNG.normal(0.2, 1.3, 3001), 1))  # unequal sizes, ties
    result = column_drift("x", ref, cur)
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert result.method == "wasserstein"
    assert result.score == pytest.approx(expected, rel=1e-12)
    assert result.effect_size == result.score
    assert result.drifted


def test_jensenshannon_uses_natural_log_like_evidently() -> None:
    ref = pd.Series(["a"] * 1500 + ["b"] * 500)
    cur = pd.Series(["a"] * 500 + ["b"] * 1000 + ["c"] * 500)
    result = column_drift("x", ref, cur)
    expected = distance.jensenshannon([0.75, 0.25, 0.0], [0.25, 0.5, 0.25])
    assert result.score == pytest.approx(expected)
    assert result.score < distance.jensenshannon([0.75, 0.25, 0.0], [0.25, 0.5, 0.25], base=2)


def test_p_value_tests_match_scipy() -> None:
    ref, cur = normal(400), normal(300, 0.1)
    assert column_drift("x", ref, cur).score == pytest.approx(stats.ks_2samp(ref, cur).pvalue)
    ref_c = pd.Series(["a"] * 200 + ["b"] * 150 + ["c"] * 50)
    cur_c = pd.Series(["a"] * 100 + ["b"] * 100 + ["c"] * 100)
    expected = stats.chisquare([100, 100, 100], [200 * 300 / 400, 150 * 300 / 400, 50 * 300 / 400]).pvalue
    assert column_drift("c", ref_c, cur_c).score == pytest.approx(expected)


def test_a_category_the_reference_never_saw_is_drift() -> None:
    ref = pd.Series(["a", "b", "c"] * 100)
    cur = pd.Series(["a", "b", "c"] * 90 + ["new"] * 30)
    result = column_drift("x", ref, cur)
    assert (result.method, result.score, result.status) == ("chisquare", 0.0, "drift")


def test_the_same_distribution_does_not_drift() -> None:
    ref = pd.DataFrame({"num": normal(5000), "cat": RNG.choice(["a", "b", "c"], 5000)})
    cur = pd.DataFrame({"num": normal(5000), "cat": RNG.choice(["a", "b", "c"], 5000)})
    report = detect_drift(ref, cur)
    assert report.status == "no_drift"
    assert report.drifted_columns == 0
    assert all(c.score is not None and c.score < 0.05 for c in report.columns)


def test_dataset_drift_at_the_configured_share() -> None:
    ref = pd.DataFrame({f"c{i}": normal(2000) for i in range(4)})
    cur = pd.DataFrame({f"c{i}": normal(2000, 1.0 if i == 0 else 0.0) for i in range(4)})
    report = detect_drift(ref, cur)
    assert [c.column for c in report.columns if c.drifted] == ["c0"]
    assert (report.share, report.status) == (0.25, "no_drift")
    assert detect_drift(ref, cur, DriftConfig(drift_share=0.25)).status == "drift"


def test_per_column_method_and_threshold() -> None:
    ref = pd.DataFrame({"x": normal(3000), "y": normal(3000)})
    cur = pd.DataFrame({"x": normal(3000, 0.05), "y": normal(3000, 0.05)})
    config = DriftConfig(columns={"x": ColumnTest(method="ks"), "y": ColumnTest(threshold=0.01)})
    report = detect_drift(ref, cur, config)
    x, y = report.column("x"), report.column("y")
    assert (x.method, x.score_kind, x.threshold) == ("ks", "p_value", 0.05)
    assert x.effect_size is not None and x.effect_size < 0.1  # small, though KS may call it significant
    assert (y.method, y.threshold, y.status) == ("wasserstein", 0.01, "drift")


def test_psi_is_available_per_column() -> None:
    ref, cur = normal(3000), normal(3000, 1.0)
    result = column_drift("x", ref, cur, ColumnTest(method="psi", threshold=0.2))
    assert result.method == "psi" and result.score is not None and result.score > 0.2 and result.drifted


def test_missing_and_infinite_values_are_dropped() -> None:
    ref = pd.Series(np.concatenate([RNG.normal(size=2000), [np.nan] * 50, [np.inf, -np.inf]]))
    cur = pd.Series(np.concatenate([RNG.normal(size=1500), [np.nan] * 500]))
    result = column_drift("x", ref, cur)
    assert (result.reference_rows, result.current_rows) == (2000, 1500)
    assert result.score is not None and np.isfinite(result.score) and result.status == "no_drift"
    cats = column_drift("c", pd.Series(["a", None, "b"] * 100), pd.Series(["a", "b", np.nan] * 100))
    assert (cats.reference_rows, cats.status) == (200, "no_drift")


def test_too_few_values_give_insufficient_data_not_a_verdict() -> None:
    ref = pd.DataFrame({"x": normal(500), "empty": [np.nan] * 500})
    cur = pd.DataFrame({"x": normal(10, 5.0), "empty": [np.nan] * 10})
    report = detect_drift(ref, cur)
    assert {c.column: c.status for c in report.columns} == {"x": "insufficient_data", "empty": "insufficient_data"}
    assert report.column("x").score is None
    assert (report.status, report.share) == ("insufficient_data", None)
    assert detect_drift(ref[["x"]], cur[["x"]], DriftConfig(min_rows=5)).status == "drift"


def test_bad_input_is_a_clear_error() -> None:
    ref = pd.DataFrame({"x": normal(100), "s": ["a"] * 100})
    with pytest.raises(InvalidInput, match="not in the current window: missing"):
        detect_drift(ref.assign(missing=1), ref, columns=["x", "missing"])
    with pytest.raises(InvalidInput, match="the current window has no rows"):
        detect_drift(ref, ref.iloc[:0])
    with pytest.raises(InvalidInput, match="'s' is not numeric"):
        detect_drift(ref, ref, DriftConfig(columns={"s": ColumnTest(kind="numeric")}))
    with pytest.raises(InvalidInput, match="unknown method 'magic'"):
        DriftConfig.from_dict({"columns": {"x": {"method": "magic"}}})
    with pytest.raises(InvalidInput, match="drift_share"):
        DriftConfig.from_dict({"drift_share": 0})
    with pytest.raises(InvalidInput, match="ks needs a numeric column"):
        DriftConfig.from_dict({"columns": {"s": {"kind": "categorical", "method": "ks"}}})
    with pytest.raises(InvalidInput, match="configured column"):
        detect_drift(ref, ref, DriftConfig(columns={"nope": ColumnTest()}))


def test_config_round_trips_through_a_dict() -> None:
    config = DriftConfig.from_dict({"drift_share": 0.3, "columns": {"x": {"method": "ks", "threshold": 0.01}}})
    assert DriftConfig.from_dict(config.to_dict()) == config


def test_report_serialises_without_nan_surprises() -> None:
    report = detect_drift(pd.DataFrame({"x": normal(100)}), pd.DataFrame({"x": normal(100)}))
    data = report.to_dict()
    assert data["status"] == "no_drift" and data["columns"][0]["method"] == "ks"
    assert set(data["columns"][0]) >= {"score", "threshold", "status", "effect_size"}
