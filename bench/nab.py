"""shipyard's anomaly detector on the Numenta Anomaly Benchmark's AWS CloudWatch and traffic series.

24 series (83,404 rows, 44 labelled windows) from ../shared/data/nab, scored with NAB's rules
(bench/nab_score.py) under its three profiles, next to the published NAB scores of other
detectors on these same series (from NAB's per-file results; see the data README). One detector
configuration for every series; the detector is online. Detections are the rows it flags (its
own cooldown included), so no threshold is tuned per profile.

    PYTHONPATH=. .venv/bin/python bench/nab.py
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from bench.nab_score import PROFILES, load_corpus, normalised, raw_score
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
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "data" / "nab").is_dir():
            return parent / "shared" / "data" / "nab"
    return Path("/work/shared/data/nab")


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
    print(f"{rows} rows in {seconds:.2f} s ({1e6 * seconds / rows:.1f} µs a row); {sum(map(len, detections))} flags")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"config": asdict(config), "scores": scores, "published": PUBLISHED, "rows": rows, "seconds": seconds,
             "per_file": per_file},
            indent=2,
        ) + "\n"
    )  # fmt: skip


if __name__ == "__main__":
    main()
