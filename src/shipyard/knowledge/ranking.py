"""The one top-k routine every retriever shares."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def best_first(scores: NDArray[np.float32], k: int) -> NDArray[np.intp]:
    """Indices of the `k` highest scores, best first (ties keep index order): a partial sort,
    so picking 10 of a million scores does not sort the million."""
    k = min(k, len(scores))
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return top[np.argsort(-scores[top], kind="stable")]
