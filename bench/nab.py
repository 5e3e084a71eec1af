"""shipyard's anomaly detector on the Numenta Anomaly Benchmark's AWS CloudWatch and traffic series.

24 series (83,404 rows, 44 labelled windows) from ../shared/data/nab, scored with NAB's rules
(bench/nab_score.py) under its three profiles, next to the published NAB scores of other
detectors on these same series (from NAB's per-file results; see the data README). One detector
configuration for every series; the detector is online. Detections are the rows it flags (its
own cooldown included), so no threshold is tuned per profile.

In the same run: the robust baselines the detector has to beat — a median/MAD z-score against
the last three days, and against the same hour of the day over the last three days (a seasonal
profile) — each with the corpus-wide threshold and cooldown NAB's rule picks per profile.

    PYTHONPATH=. .venv/bin/python bench/nab.py
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from bench.nab_score import PROFILES, Series, load_corpus, normalised, raw_score
from shipyard.monitoring.anomaly import DetectorConfig, detect

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "nab.json"
# Published standard / reward_low_FP / reward_low_FN scores on these 24 series (data README).
PUBLISHED = {
    "CAD OSE": (77.8, 74.3, 81.2),
    "Numenta HTM": (76.3, 69.0, 79.7),
    "ARTime": (75.0, 66.1, 80.3),
    "NumentaTM HTM": (72.0, 63.9, 76.0),
    "HTM Java": (69.4, 59.8, 73.5),
    "earthgecko Skyline": (64.0, 54.2, 69.2),
    "Random Cut Forest": (59.6, None, None),
    "KNN CAD": (57.2, 48.9, 61.6),
    "Windowed Gaussian": (41.8, None, None),
}


def data_root() -> Path:
    """The nab/ folder under SHIPYARD_EXAMPLE_DATA, else under the project-relative `../shared/data`."""
    data = Path(os.environ.get("SHIPYARD_EXAMPLE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    if not (data / "nab").is_dir():
        raise SystemExit(f"error: no nab/ in {data}: set SHIPYARD_EXAMPLE_DATA to the folder holding nab/")
    return data / "nab"


def mad_scores(series: Series, *, seasonal: bool, days: int = 3) -> np.ndarray:
    """|value − median| / (1.4826 · MAD) over the last `days` (per hour of the day when seasonal), online."""
    hours = pd.to_datetime(series.timestamps).dt.hour.to_numpy() if seasonal else np.zeros(len(series.values), int)
    history: dict[int, deque[float]] = {}
    size = days * (12 if seasonal else 288)  # five-minute rows
    scores = np.zeros(len(series.values))
    for row, (value, hour) in enumerate(zip(series.values, hours, strict=True)):
        past = history.setdefault(int(hour), deque(maxlen=size))
        if len(past) >= 10:
            reference = np.fromiter(past, float)
            median = float(np.median(reference))
            mad = 1.4826 * float(np.median(np.abs(reference - median)))
            scores[row] = abs(value - median) / (mad or abs(median) / 100 or 1e-9)
        past.append(float(value))
    return scores


def best_flags(corpus: list[Series], scores: list[np.ndarray], profile: str) -> tuple[float, float, int]:
    """NAB's rule for a scoring detector: the one threshold (and cooldown) that maximises the corpus score."""
    best = (-1e9, 0.0, 0)
    for cooldown in (50, 100, 200):
        for threshold in (3, 4, 5, 6, 8, 10, 15, 20, 30):
            detections = []
            for score in scores:
                flags, last = [], -cooldown
                for row in np.flatnonzero(score >= threshold):
                    if row - last >= cooldown:
                        flags.append(int(row))
                        last = row
                detections.append(flags)
            best = max(best, (normalised(corpus, detections, profile), float(threshold), cooldown))
    return best


def main() -> None:
    corpus = load_corpus(data_root())
    config = DetectorConfig()
    started = time.perf_counter()
    detections = [[i for i, p in enumerate(detect(s.values, config)) if p.anomaly] for s in corpus]
    seconds = time.perf_counter() - started
    rows = sum(len(s.values) for s in corpus)
    scores = {profile: normalised(corpus, detections, profile) for profile in PROFILES}
    per_file = {
        s.name: {"windows": len(s.windows), "flags": len(d), "raw_standard": raw_score(s, d, "standard")}
        for s, d in zip(corpus, detections, strict=True)
    }
    print(f"{'detector':22} {'standard':>9} {'low FP':>8} {'low FN':>8}")
    ours = [scores[p] for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate")]
    print(f"{'shipyard':22} {ours[0]:>9.1f} {ours[1]:>8.1f} {ours[2]:>8.1f}")
    for name, (standard, low_fp, low_fn) in PUBLISHED.items():
        print(f"{name:22} {standard:>9.1f} {low_fp or float('nan'):>8.1f} {low_fn or float('nan'):>8.1f}")
    baselines = {}
    for name, seasonal in (("median/MAD 3 days", False), ("median/MAD by hour", True)):
        baseline_scores = [mad_scores(s, seasonal=seasonal) for s in corpus]
        baselines[name] = {profile: best_flags(corpus, baseline_scores, profile) for profile in PROFILES}
        found = [baselines[name][p][0] for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate")]
        print(f"{name:22} {found[0]:>9.1f} {found[1]:>8.1f} {found[2]:>8.1f}   (threshold tuned on the corpus)")
    print(f"{rows} rows in {seconds:.2f} s ({1e6 * seconds / rows:.1f} µs a row); {sum(map(len, detections))} flags")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"config": asdict(config), "scores": scores, "published": PUBLISHED, "baselines": baselines,
             "rows": rows, "seconds": seconds, "per_file": per_file},
            indent=2,
        ) + "\n"
    )  # fmt: skip


if __name__ == "__main__":
    main()
