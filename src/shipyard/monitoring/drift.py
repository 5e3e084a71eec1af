"""Data drift between a reference and a current window, column by column.

The defaults are Evidently's (0.7 `DataDriftPreset`), so a verdict here is the verdict users know:
with a reference of at most 1,000 rows, p-value tests (KS for numeric columns with more than 5
distinct values, chi-square for categories or numeric columns with 3–5 values, a Z-test for two
proportions) with drift at p < 0.05; with a larger reference, distances that do not turn every
tiny difference into "significant" (Wasserstein distance normed by the reference's standard
deviation for numeric columns, Jensen–Shannon distance for the rest) with drift at ≥ 0.1. The
dataset drifts when at least half of its columns do. Every column reports, besides its verdict, an
effect size that does not depend on sample size (normed Wasserstein for numeric columns,
Jensen–Shannon distance for categorical ones), so a "significant" drift on a million rows can be
told apart from a large one.

Two deliberate details, both Evidently's: the Jensen–Shannon distance uses the natural logarithm
(scipy's default; Evidently passes no base), so its range is [0, √ln 2 ≈ 0.83] rather than
[0, 1]; and integer columns with at most 10 distinct values are categorical unless told otherwise.

The numeric path sorts each column once and computes the Wasserstein distance on the sorted
arrays (4× faster than `scipy.stats.wasserstein_distance`, same value); columns run on a small
thread pool since numpy's sorts release the GIL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from shipyard.errors import InvalidInput

Kind = Literal["numeric", "categorical"]
Method = Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "model", "mmd"]
Status = Literal["drift", "no_drift", "insufficient_data"]

METHODS: dict[str, tuple[str, float]] = {  # method → (what its score is, default threshold)
    "ks": ("p_value", 0.05),
    "chisquare": ("p_value", 0.05),
    "z": ("p_value", 0.05),
    "wasserstein": ("distance", 0.1),
    "jensenshannon": ("distance", 0.1),
    "psi": ("distance", 0.1),
}
NUMERIC_ONLY = {"ks", "wasserstein"}
# A set of embeddings (a collection monitor's query_embedding), not a column: embeddings.py.
EMBEDDING_METHODS = {"model": ("roc_auc", 0.55), "mmd": ("p_value", 0.05)}
SMALL_REFERENCE = 1000  # Evidently: up to this many reference rows, p-value tests
INTEGER_CATEGORIES = 10  # Evidently: an integer column with at most this many values is categorical
PSI_BINS = 10


@dataclass(frozen=True)
class ColumnTest:
    """How one column is tested; anything left `None` takes the default."""

    kind: Kind | None = None
    method: Method | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class DriftConfig:
    drift_share: float = 0.5  # the dataset drifts when at least this share of its columns do
    min_rows: int = 30  # fewer values than this in either window: "insufficient data", no verdict
    columns: Mapping[str, ColumnTest] = field(default_factory=dict)

    def checked(self) -> DriftConfig:
        if not 0 < self.drift_share <= 1:
            raise InvalidInput(f"drift_share must be in (0, 1], got {self.drift_share}")
        if self.min_rows < 1:
            raise InvalidInput(f"min_rows must be at least 1, got {self.min_rows}")
        for name, test in self.columns.items():
            if test.method is not None and test.method not in METHODS and test.method not in EMBEDDING_METHODS:
                known = ", ".join([*METHODS, *EMBEDDING_METHODS])
                raise InvalidInput(f"column {name!r}: unknown method {test.method!r}; use one of {known}")
            if test.kind is not None and test.kind not in ("numeric", "categorical"):
                raise InvalidInput(f"column {name!r}: kind must be 'numeric' or 'categorical', got {test.kind!r}")
            if test.method in NUMERIC_ONLY and test.kind == "categorical":
                raise InvalidInput(f"column {name!r}: {test.method} needs a numeric column")
            if test.threshold is not None and not (math.isfinite(test.threshold) and test.threshold > 0):
                raise InvalidInput(f"column {name!r}: threshold must be a positive number")
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftConfig:
        known = {"drift_share", "min_rows", "columns"}
        if unknown := set(data) - known:
            raise InvalidInput(f"unknown drift option(s): {', '.join(sorted(unknown))}")
        columns = data.get("columns") or {}
        if not isinstance(columns, Mapping):
            raise InvalidInput("columns must map column names to {kind, method, threshold}")
        tests: dict[str, ColumnTest] = {}
        for name, spec in columns.items():
            if not isinstance(spec, Mapping) or set(spec) - {"kind", "method", "threshold"}:
                raise InvalidInput(f"column {name!r}: give any of kind, method, threshold")
            tests[str(name)] = ColumnTest(**spec)
        return cls(
            drift_share=float(data.get("drift_share", 0.5)), min_rows=int(data.get("min_rows", 30)), columns=tests
        ).checked()

    def to_dict(self) -> dict[str, Any]:
        columns = {name: {k: v for k, v in asdict(t).items() if v is not None} for name, t in self.columns.items()}
        return {"drift_share": self.drift_share, "min_rows": self.min_rows, "columns": columns}


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: Kind | Literal["embedding"]
    method: str
    score: float | None  # what the threshold is compared with: a p-value or a distance
    score_kind: str  # "p_value" (drift below the threshold) or "distance" (drift at or above it)
    threshold: float
    status: Status
    effect_size: float | None  # normed Wasserstein (numeric) or Jensen–Shannon distance (categorical)
    reference_rows: int  # values used, after dropping missing and infinite ones
    current_rows: int

    @property
    def drifted(self) -> bool:
        return self.status == "drift"


@dataclass(frozen=True)
class DriftReport:
    columns: list[ColumnDrift]
    drift_share: float  # the configured share
    drifted_columns: int
    tested_columns: int  # columns with a verdict
    reference_rows: int
    current_rows: int

    @property
    def share(self) -> float | None:
        return self.drifted_columns / self.tested_columns if self.tested_columns else None

    @property
    def status(self) -> Status:
        share = self.share
        if share is None:
            return "insufficient_data"
        return "drift" if share >= self.drift_share else "no_drift"

    def column(self, name: str) -> ColumnDrift:
        for result in self.columns:
            if result.column == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "share": self.share,
            "drift_share": self.drift_share,
            "drifted_columns": self.drifted_columns,
            "tested_columns": self.tested_columns,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "columns": [asdict(c) for c in self.columns],
        }


def infer_kind(column: pd.Series) -> Kind:
    """Evidently's inference: floats are numeric, integers too unless they take ≤ 10 values."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_float_dtype(dtype):
        return "numeric"
    if pd.api.types.is_integer_dtype(dtype):
        return "categorical" if column.nunique() <= INTEGER_CATEGORIES else "numeric"
    return "categorical"


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: DriftConfig | None = None,
    *,
    columns: list[str] | None = None,
    workers: int = 2,
) -> DriftReport:
    """Compare `current` with `reference` on `columns` (default: every column of the reference).

    Raises InvalidInput when a column is missing from either window or a window is empty.
    """
    config = (config or DriftConfig()).checked()
    names = list(reference.columns) if columns is None else list(columns)
    if not names:
        raise InvalidInput("no columns to compare")
    for frame, label in ((reference, "reference"), (current, "current")):
        if frame.empty:
            raise InvalidInput(f"the {label} window has no rows")
        if missing := [n for n in names if n not in frame.columns]:
            raise InvalidInput(f"column(s) not in the {label} window: {', '.join(map(str, missing))}")
    if unknown := set(config.columns) - set(names):
        raise InvalidInput(f"configured column(s) not compared: {', '.join(sorted(unknown))}")

    def one(name: str) -> ColumnDrift:
        return column_drift(str(name), reference[name], current[name], config.columns.get(str(name)), config.min_rows)

    if workers > 1 and len(names) > 1 and len(reference) + len(current) >= 100_000:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, names))
    else:
        results = [one(name) for name in names]
    tested = [r for r in results if r.status != "insufficient_data"]
    return DriftReport(
        columns=results,
        drift_share=config.drift_share,
        drifted_columns=sum(r.drifted for r in tested),
        tested_columns=len(tested),
        reference_rows=len(reference),
        current_rows=len(current),
    )


def column_drift(
    name: str, reference: pd.Series, current: pd.Series, test: ColumnTest | None = None, min_rows: int = 30
) -> ColumnDrift:
    """One column's verdict. Missing and infinite values are dropped first (as Evidently does)."""
    test = test or ColumnTest()
    if test.method in EMBEDDING_METHODS:
        raise InvalidInput(f"column {name!r}: {test.method} compares embeddings, not a column")
    kind = test.kind or infer_kind(reference)
    if kind == "numeric":
        ref_values, cur_values = _finite(reference, name), _finite(current, name)
    else:
        ref_values, cur_values = _present(reference), _present(current)
    n_ref, n_cur = len(ref_values), len(cur_values)
    method: str
    if n_ref < min_rows or n_cur < min_rows:
        method = test.method or ("wasserstein" if kind == "numeric" else "jensenshannon")
        return ColumnDrift(name, kind, method, None, METHODS[method][0], _threshold(method, test), "insufficient_data",
                           None, n_ref, n_cur)  # fmt: skip

    if kind == "numeric":
        assert isinstance(ref_values, np.ndarray) and isinstance(cur_values, np.ndarray)
        ref_sorted, cur_sorted = np.sort(ref_values), np.sort(cur_values)
        effect = _normed_wasserstein(ref_sorted, cur_sorted)
        method = test.method or _default_numeric(ref_sorted, cur_sorted)
        score = effect if method == "wasserstein" else _numeric_score(method, ref_sorted, cur_sorted)
    else:
        ref_counts, cur_counts = _counts(ref_values, cur_values)
        effect = _jensenshannon(ref_counts, cur_counts)
        method = test.method or _default_categorical(n_ref, len(ref_counts))
        score = effect if method == "jensenshannon" else _categorical_score(method, ref_counts, cur_counts)
    threshold = _threshold(method, test)
    if METHODS[method][0] == "p_value":
        # Evidently: KS drifts at p ≤ threshold, chi-square and Z at p < threshold.
        drifted = score <= threshold if method == "ks" else score < threshold
    else:
        drifted = score >= threshold
    return ColumnDrift(name, kind, method, _clean(score), METHODS[method][0], threshold,
                       "drift" if drifted else "no_drift", _clean(effect), n_ref, n_cur)  # fmt: skip


def _threshold(method: str, test: ColumnTest) -> float:
    return test.threshold if test.threshold is not None else METHODS[method][1]


def _clean(value: float) -> float | None:
    """A statistic that could not be computed is None (JSON null), not NaN."""
    return float(value) if math.isfinite(value) else None


def _finite(column: pd.Series, name: str) -> np.ndarray:
    try:
        values = pd.to_numeric(column, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"column {name!r} is not numeric ({exc}); test it as kind 'categorical'") from None
    finite: np.ndarray = values[np.isfinite(values)]
    return finite


def _present(column: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(column.dtype):
        column = column[np.isfinite(column.to_numpy(dtype=np.float64, na_value=np.nan))]
    return column.dropna()


def _distinct_sorted(values: np.ndarray) -> int:
    return int(np.count_nonzero(np.diff(values))) + 1 if len(values) else 0


def _default_numeric(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> str:
    # Evidently counts the distinct values of both windows together.
    distinct = _distinct_sorted(ref_sorted)
    if distinct <= 5:
        distinct = len(np.union1d(ref_sorted, cur_sorted))
    if len(ref_sorted) <= SMALL_REFERENCE:
        return "ks" if distinct > 5 else ("chisquare" if distinct > 2 else "z")
    return "wasserstein" if distinct > 5 else "jensenshannon"


def _default_categorical(n_ref: int, distinct: int) -> str:
    if n_ref <= SMALL_REFERENCE:
        return "chisquare" if distinct > 2 else "z"
    return "jensenshannon"


def _normed_wasserstein(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """W1(ref, cur) / max(std(ref), 0.001), from sorted samples: the area between the two ECDFs."""
    merged = np.sort(np.concatenate([ref_sorted, cur_sorted]), kind="stable")  # two runs: a linear merge
    widths = np.diff(merged)
    ref_cdf = np.searchsorted(ref_sorted, merged[:-1], "right") / len(ref_sorted)
    cur_cdf = np.searchsorted(cur_sorted, merged[:-1], "right") / len(cur_sorted)
    distance_ = float(np.dot(np.abs(ref_cdf - cur_cdf), widths))
    return distance_ / max(float(np.std(ref_sorted)), 0.001)


def _numeric_score(method: str, ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    if method == "ks":
        return float(stats.ks_2samp(ref_sorted, cur_sorted).pvalue)
    if method == "psi":
        return _psi(ref_sorted, cur_sorted)
    # Categorical tests on a numeric column count its values (Evidently: ≤ 20 values; else histogram bins).
    ref_counts, cur_counts = _counts(pd.Series(ref_sorted), pd.Series(cur_sorted))
    if method == "jensenshannon" and _distinct_sorted(ref_sorted) > 20:
        edges = np.histogram_bin_edges(np.concatenate([ref_sorted, cur_sorted]), bins="sturges")
        ref_hist, cur_hist = np.histogram(ref_sorted, edges)[0], np.histogram(cur_sorted, edges)[0]
        return _jensenshannon(ref_hist, cur_hist)
    return _categorical_score(method, ref_counts, cur_counts)


def _psi(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """Population stability index on the reference's deciles (a common alternative, not a default)."""
    edges = np.unique(np.quantile(ref_sorted, np.linspace(0, 1, PSI_BINS + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    ref_share = np.histogram(ref_sorted, edges)[0] / len(ref_sorted)
    cur_share = np.histogram(cur_sorted, edges)[0] / len(cur_sorted)
    ref_share, cur_share = np.clip(ref_share, 1e-4, None), np.clip(cur_share, 1e-4, None)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def _counts(ref_values: pd.Series | np.ndarray, cur_values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of each value seen in either window, aligned."""
    ref = pd.Series(ref_values).value_counts(sort=False)
    cur = pd.Series(cur_values).value_counts(sort=False)
    keys = ref.index.union(cur.index)
    return (
        ref.reindex(keys, fill_value=0).to_numpy(dtype=np.float64),
        cur.reindex(keys, fill_value=0).to_numpy(dtype=np.float64),
    )


def _jensenshannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    return float(distance.jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()))


def _categorical_score(method: str, ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    if method == "jensenshannon":
        return _jensenshannon(ref_counts, cur_counts)
    if method == "chisquare":
        expected = ref_counts * (cur_counts.sum() / ref_counts.sum())
        if np.any(expected == 0):
            # A value the reference never saw: an infinite statistic, p = 0 (as scipy and so
            # Evidently compute it, minus the division-by-zero warning).
            return 0.0
        return float(stats.chisquare(cur_counts, expected).pvalue)
    if method == "z":
        return _two_proportions(ref_counts, cur_counts)
    if method == "psi":
        ref_share = np.clip(ref_counts / ref_counts.sum(), 1e-4, None)
        cur_share = np.clip(cur_counts / cur_counts.sum(), 1e-4, None)
        return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))
    raise InvalidInput(f"{method} needs a numeric column")


def _two_proportions(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Two-sided Z-test that the first value's share is the same in both windows."""
    if len(ref_counts) == 1:
        return 1.0  # one value, the same in both windows
    n1, n2 = ref_counts.sum(), cur_counts.sum()
    p1, p2 = ref_counts[0] / n1, cur_counts[0] / n2
    pooled = (ref_counts[0] + cur_counts[0]) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 1.0
    return float(2 * stats.norm.sf(abs(p1 - p2) / spread))
