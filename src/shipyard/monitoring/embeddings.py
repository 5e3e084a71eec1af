"""Drift of embeddings (RAG queries, documents): has what users ask moved away from the reference?

The default is Evidently's ("model" method, `EmbeddingsDriftMetric`): a classifier learns to tell
reference rows from current ones — logistic regression by SGD on half of the rows, ROC AUC on the
other half. If it cannot (AUC near 0.5), the two sets are alike. Drift when the AUC exceeds 0.55;
with a reference under 1,000 rows, when it exceeds the 95th percentile of the AUCs that random
scores get on the same held-out labels (small samples make 0.55 too easy to reach by chance).
Same split and seeds as Evidently, so the same data gets the same verdict.

The alternative, `method="mmd"`, is the maximum mean discrepancy with a Gaussian kernel (median
distance bandwidth) and a permutation test: drift when p < 0.05; slower, but a p-value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from shipyard.errors import InvalidInput

Method = Literal["model", "mmd"]
MODEL_THRESHOLD = 0.55
SMALL_REFERENCE = 1000  # below this many reference rows, the model method bootstraps its threshold
MMD_ALPHA = 0.05
MIN_ROWS = 10


@dataclass(frozen=True)
class EmbeddingDrift:
    method: str
    score: float | None  # ROC AUC (model) or the MMD permutation p-value (mmd)
    threshold: float  # drift above it (model) or below it (mmd)
    status: Literal["drift", "no_drift", "insufficient_data"]
    reference_rows: int
    current_rows: int

    @property
    def drifted(self) -> bool:
        return self.status == "drift"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def embedding_drift(
    reference: NDArray[Any], current: NDArray[Any], *, method: Method = "model", min_rows: int = MIN_ROWS
) -> EmbeddingDrift:
    """Compare two sets of embeddings (one row each). Raises InvalidInput on mismatched shapes."""
    reference, current = _checked(reference, "reference"), _checked(current, "current")
    if reference.shape[1] != current.shape[1]:
        raise InvalidInput(f"embeddings differ in size: {reference.shape[1]} vs {current.shape[1]} dimensions")
    n_ref, n_cur = len(reference), len(current)
    if method not in ("model", "mmd"):
        raise InvalidInput(f"unknown embedding drift method {method!r}; use model or mmd")
    if n_ref < min_rows or n_cur < min_rows:
        threshold = MODEL_THRESHOLD if method == "model" else MMD_ALPHA
        return EmbeddingDrift(method, None, threshold, "insufficient_data", n_ref, n_cur)
    if method == "mmd":
        p_value = _mmd_p_value(reference, current)
        return EmbeddingDrift("mmd", p_value, MMD_ALPHA, "drift" if p_value < MMD_ALPHA else "no_drift", n_ref, n_cur)
    auc, threshold = _classifier_auc(reference, current)
    return EmbeddingDrift("model", auc, threshold, "drift" if auc > threshold else "no_drift", n_ref, n_cur)


def _checked(values: NDArray[Any], label: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise InvalidInput(f"{label} embeddings must be a 2-D array (one row per text), got {array.ndim}-D")
    finite: NDArray[np.float64] = array[np.isfinite(array).all(axis=1)]
    return finite


def _classifier_auc(reference: NDArray[np.float64], current: NDArray[np.float64]) -> tuple[float, float]:
    """Evidently's ModelDriftMethod: the AUC and the threshold it is compared with."""
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    data = np.vstack([reference, current])
    target = np.concatenate([np.ones(len(reference), dtype=int), np.zeros(len(current), dtype=int)])
    x_train, x_test, y_train, y_test = train_test_split(data, target, test_size=0.5, random_state=42, shuffle=True)
    if len(set(y_train)) < 2 or len(set(y_test)) < 2:
        return 0.5, MODEL_THRESHOLD
    classifier = SGDClassifier(loss="log_loss", random_state=42)
    classifier.fit(x_train, y_train)
    auc = float(roc_auc_score(y_test, classifier.predict_proba(x_test)[:, 1]))
    if len(reference) >= SMALL_REFERENCE:
        return auc, MODEL_THRESHOLD
    random_aucs = []
    for seed in range(100):  # Evidently seeds numpy's global generator per draw
        random_aucs.append(roc_auc_score(y_test, np.random.RandomState(seed).rand(len(y_test))))
    return auc, float(np.percentile(random_aucs, 95))


def _mmd_p_value(
    reference: NDArray[np.float64], current: NDArray[np.float64], permutations: int = 200, max_rows: int = 1000
) -> float:
    """Permutation p-value of the (biased) squared MMD with a Gaussian kernel."""
    rng = np.random.default_rng(0)
    if len(reference) > max_rows:
        reference = reference[rng.choice(len(reference), max_rows, replace=False)]
    if len(current) > max_rows:
        current = current[rng.choice(len(current), max_rows, replace=False)]
    data = np.vstack([reference, current])
    squared = np.sum(data**2, axis=1)
    distances = np.maximum(squared[:, None] + squared[None, :] - 2 * data @ data.T, 0.0)
    bandwidth = np.median(distances[np.triu_indices(len(data), k=1)]) or 1.0
    kernel = np.exp(-distances / bandwidth)
    n = len(reference)

    def statistic(order: NDArray[np.int64]) -> float:
        k = kernel[np.ix_(order, order)]
        return float(k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean())

    observed = statistic(np.arange(len(data)))
    exceed = sum(statistic(rng.permutation(len(data))) >= observed for _ in range(permutations))
    return (exceed + 1) / (permutations + 1)
