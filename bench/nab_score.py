"""The NAB scorer (Lavin & Ahmad 2015; upstream nab/sweeper.py), written from the rules in
../shared/data/nab/README.md: windows by row position (first row with the timestamp), a
probationary period that is never scored, the first detection in a window scored on a scaled
sigmoid of its position, false positives weighted by their distance from the previous window,
and the corpus score normalised between a detector that never fires (0) and a perfect one (100).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PROFILES = {
    "standard": (1.0, 1.0, 0.11),
    "reward_low_FP_rate": (1.0, 1.0, 0.22),
    "reward_low_FN_rate": (1.0, 2.0, 0.11),
}


@dataclass(frozen=True)
class Series:
    name: str  # path under data/, as the label files key it
    timestamps: pd.Series
    values: np.ndarray
    windows: list[tuple[int, int]]  # inclusive row positions

    @property
    def probation(self) -> int:
        return min(math.floor(0.15 * len(self.values)), 750)


def load_corpus(root: Path) -> list[Series]:
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    corpus = []
    for name in sorted(windows):
        frame = pd.read_csv(root / "data" / name)
        stamps = frame["timestamp"].astype(str)
        first = {}
        for position, stamp in enumerate(stamps):
            first.setdefault(stamp, position)
        rows = [(first[left.split(".")[0]], first[right.split(".")[0]]) for left, right in windows[name]]
        corpus.append(Series(name, stamps, frame["value"].to_numpy(dtype=float), rows))
    return corpus


def _sigmoid(x: float) -> float:
    return -1.0 if x > 3.0 else 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


def raw_score(series: Series, detections: Sequence[int], profile: str) -> float:
    """One file's raw score for the detection row positions `detections`."""
    tp_weight, fn_weight, fp_weight = PROFILES[profile]
    found: dict[int, float] = {}
    score = 0.0
    for row in sorted(detections):
        if row < series.probation:
            continue
        inside = next((k for k, (left, right) in enumerate(series.windows) if left <= row <= right), None)
        if inside is not None:
            if inside not in found:
                left, right = series.windows[inside]
                position = -(right - row + 1) / (right - left + 1)
                found[inside] = tp_weight * _sigmoid(position) / _sigmoid(-1.0)
            continue
        before = [(left, right) for left, right in series.windows if right < row]
        if not before:
            score += -fp_weight
        else:
            left, right = before[-1]
            score += fp_weight * _sigmoid(abs(right - row) / (right - left + 1 - 1))
    score += sum(found.values())
    score -= fn_weight * (len(series.windows) - len(found))
    return score


def normalised(corpus: Sequence[Series], detections: Sequence[Sequence[int]], profile: str) -> float:
    tp_weight, fn_weight, _ = PROFILES[profile]
    windows = sum(len(s.windows) for s in corpus)
    total = sum(raw_score(s, d, profile) for s, d in zip(corpus, detections, strict=True))
    null, perfect = -fn_weight * windows, tp_weight * windows
    return 100 * (total - null) / (perfect - null)


def best_threshold(
    corpus: Sequence[Series], scores: Sequence[np.ndarray], profile: str, candidates: Sequence[float]
) -> tuple[float, float]:
    """NAB's rule: one threshold for the whole corpus, the one that maximises its score."""
    best = (-math.inf, 0.0)
    for threshold in candidates:
        detections = [np.flatnonzero(s >= threshold).tolist() for s in scores]
        best = max(best, (normalised(corpus, detections, profile), threshold))
    return best[1], best[0]
