"""Data drift: shipyard's `detect_drift` vs Evidently 0.7's DataDriftPreset, same data, same verdicts.

Scenarios (each run by both, in this one run; Evidently in its own venv, .peers/v-evidently,
since it needs pandas<3):
- `synthetic_1m`: 1,000,000 reference and 1,000,000 current rows × 20 columns — 14 float columns
  (num_0..num_3 shifted by 0.3 sd, num_4 with 1.5× the spread, 1 % missing values in num_5,
  infinities in num_6), an hour-of-day integer (numeric), a 0/1 flag and 4 string columns (cat_0
  re-weighted to uniform, cat_3 with 50 levels). Timed: this is the speed claim.
- `synthetic_small`: the first 800 / 600 rows of the same (reference ≤ 1,000 rows: the p-value tests).
- `bike_seasons`: UCI bike sharing, Jan–Feb 2011 vs Jun–Aug 2012 (features and count).
- `bike_halves`: Jan–Feb 2011 split in two random halves.
- `adult_split`: UCI adult, adult.data vs adult.test (a random split of one census).
- `adult_occupation`: adult.data vs the test rows of one occupation.

Embedding drift (Evidently's classifier method, its default for embeddings) on questions embedded
with shipyard's packaged model: `embeddings_same` (two random halves of 600 SciFact claims),
`embeddings_other` (300 claims vs 300 XQuAD questions), `embeddings_mixed` (300 claims vs 270
claims + 30 XQuAD questions). Same score and verdict required here too.

Both get the same column kinds (shipyard's inference, passed to Evidently as its DataDefinition).
Required: every column's verdict identical. Reported: seconds per report (compute only, data
already in memory; Evidently's import time separately), the ratio, and the largest score difference.

    PYTHONPATH=. .venv/bin/python bench/drift.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from shipyard.monitoring.drift import detect_drift, infer_kind
from shipyard.monitoring.embeddings import embedding_drift

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "drift.json"
EVIDENTLY = ROOT / ".peers" / "v-evidently" / "bin" / "python"


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic(rows: int, *, drifted: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i in range(14):
        shift = 0.3 if drifted and i < 4 else 0.0
        scale = 1.5 if drifted and i == 4 else 1.0
        data[f"num_{i}"] = rng.normal(shift, scale, rows)
    data["num_5"][rng.random(rows) < 0.01] = np.nan
    data["num_6"][rng.random(rows) < 0.001] = np.inf
    data["hour"] = rng.integers(0, 24, rows)
    data["flag"] = (rng.random(rows) < 0.3).astype("int64")
    levels = np.array(["a", "b", "c", "d"])
    data["cat_0"] = rng.choice(levels, rows, p=[0.25] * 4 if drifted else [0.4, 0.3, 0.2, 0.1])
    for i in (1, 2):
        data[f"cat_{i}"] = rng.choice(levels, rows, p=[0.4, 0.3, 0.2, 0.1])
    data["cat_3"] = rng.choice(np.array([f"v{i:02d}" for i in range(50)]), rows)
    return pd.DataFrame(data)


def real_scenarios() -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    bike, adult = _example("bike"), _example("adult")
    hours = bike.load_hours()
    columns = [*bike.FEATURES, bike.TARGET]
    early = hours[hours["dteday"] < "2011-03-01"][columns]
    summer = hours[(hours["dteday"] >= "2012-06-01") & (hours["dteday"] < "2012-09-01")][columns]
    shuffled = early.sample(frac=1.0, random_state=7)
    half = len(shuffled) // 2
    train, test = adult.load("adult.data.gz"), adult.load("adult.test.gz")
    features = [*adult.NUMERIC, *adult.CATEGORICAL]
    return {
        "bike_seasons": (early, summer),
        "bike_halves": (shuffled.iloc[:half], shuffled.iloc[half:]),
        "adult_split": (train[features], test[features]),
        "adult_occupation": (train[features], test[test["occupation"] == "Exec-managerial"][features]),
    }


def embedding_scenarios() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    import gzip

    from shipyard.knowledge.registry import Embedders
    from shipyard.settings import Settings

    data = Path(_example("bike").data_dir())
    claims = [json.loads(line)["text"] for line in (data / "scifact" / "queries.jsonl").read_text().splitlines()]
    with gzip.open(data / "xquad_en" / "qa.jsonl.gz", "rt") as lines:
        trivia = [json.loads(line)["question"] for line in lines][:300]
    embedder = Embedders(Settings().knowledge.embedder_url).get()
    a, b = embedder.embed(claims[:600]), embedder.embed(trivia)
    order = np.random.default_rng(0).permutation(600)
    return {
        "embeddings_same": (a[order[:300]], a[order[300:]]),
        "embeddings_other": (a[:300], b),
        "embeddings_mixed": (a[:300], np.vstack([a[300:570], b[:30]])),
    }


def run_shipyard(reference: pd.DataFrame, current: pd.DataFrame, repeats: int) -> tuple[float, dict[str, Any]]:
    best, report = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        report = detect_drift(reference, current)
        best = min(best, time.perf_counter() - started)
    assert report is not None
    columns = {
        c.column: {"method": c.method, "score": c.score, "threshold": c.threshold, "drifted": c.drifted}
        for c in report.columns
    }
    return best, {"status": report.status, "drifted_count": report.drifted_columns, "columns": columns}


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    mismatched = [
        name
        for name, column in ours["columns"].items()
        if (column["method"], column["drifted"])
        != (theirs["columns"][name]["method"], theirs["columns"][name]["drifted"])
    ]
    differences = [
        abs(column["score"] - theirs["columns"][name]["score"])
        for name, column in ours["columns"].items()
        if column["score"] is not None and theirs["columns"][name]["score"] is not None
    ]
    return {"same_verdicts": not mismatched, "mismatched": mismatched, "max_score_difference": max(differences)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    if not EVIDENTLY.exists():
        sys.exit("Evidently's venv is missing: run bench/peers.sh (make bench does)")

    reference = synthetic(args.rows, drifted=False, seed=1)
    current = synthetic(args.rows, drifted=True, seed=2)
    scenarios = {
        "synthetic_1m": (reference, current),
        "synthetic_small": (reference.iloc[:800], current.iloc[:600]),
        **real_scenarios(),
    }
    results: dict[str, Any] = {"rows": args.rows, "scenarios": {}}
    with tempfile.TemporaryDirectory() as tmp:
        specs = []
        for name, (ref, cur) in scenarios.items():
            kinds = {str(c): infer_kind(ref[c]) for c in ref.columns}
            ref.to_parquet(f"{tmp}/{name}-ref.parquet")
            cur.to_parquet(f"{tmp}/{name}-cur.parquet")
            specs.append(
                {
                    "name": name,
                    "reference": f"{tmp}/{name}-ref.parquet",
                    "current": f"{tmp}/{name}-cur.parquet",
                    "numeric": [c for c, k in kinds.items() if k == "numeric"],
                    "categorical": [c for c, k in kinds.items() if k == "categorical"],
                }
            )
        embeddings = embedding_scenarios()
        for name, (ref_emb, cur_emb) in embeddings.items():
            np.save(f"{tmp}/{name}-ref.npy", ref_emb)
            np.save(f"{tmp}/{name}-cur.npy", cur_emb)
            specs.append({"name": name, "embeddings": True, "reference": f"{tmp}/{name}-ref.npy",
                          "current": f"{tmp}/{name}-cur.npy"})  # fmt: skip
        Path(f"{tmp}/scenarios.json").write_text(json.dumps(specs))
        print("running Evidently (its own venv) …", flush=True)
        peer = subprocess.run(
            [str(EVIDENTLY), str(ROOT / "bench" / "peers" / "evidently_drift.py"), f"{tmp}/scenarios.json"],
            check=True,
            capture_output=True,
            text=True,
        )
        evidently = json.loads(peer.stdout)
    results["evidently_import_seconds"] = evidently["import_seconds"]

    header = f"{'scenario':18} {'rows ref/cur':>17} {'drifted':>8} {'shipyard s':>11} {'evidently s':>12}"
    print(f"{header} {'ratio':>7}  verdicts")
    for name, (ref, cur) in scenarios.items():
        seconds, ours = run_shipyard(ref, cur, repeats=3 if len(ref) < 100_000 else 2)
        theirs = evidently["scenarios"][name]
        check = compare(ours, theirs)
        ratio = theirs["seconds"] / seconds
        results["scenarios"][name] = {
            "reference_rows": len(ref),
            "current_rows": len(cur),
            "columns": len(ref.columns),
            "shipyard_seconds": seconds,
            "evidently_seconds": theirs["seconds"],
            "ratio": ratio,
            "dataset_drift": ours["status"],
            "drifted_columns": ours["drifted_count"],
            "evidently_drifted_columns": theirs["drifted_count"],
            **check,
            "shipyard": ours["columns"],
            "evidently": theirs["columns"],
        }
        verdicts = "same" if check["same_verdicts"] else f"DIFFERENT: {check['mismatched']}"
        print(
            f"{name:18} {len(ref):>8}/{len(cur):<8} {ours['drifted_count']:>3}/{len(ref.columns):<4} "
            f"{seconds:>11.3f} {theirs['seconds']:>12.3f} {ratio:>6.1f}×  {verdicts} "
            f"(max score diff {check['max_score_difference']:.1e})"
        )
    for name, (ref_emb, cur_emb) in embeddings.items():
        started = time.perf_counter()
        ours_emb = embedding_drift(ref_emb, cur_emb)
        seconds = time.perf_counter() - started
        theirs = evidently["scenarios"][name]
        same = ours_emb.drifted == theirs["drifted"]
        results["scenarios"][name] = {
            "reference_rows": len(ref_emb), "current_rows": len(cur_emb), "shipyard_seconds": seconds,
            "evidently_seconds": theirs["seconds"], "ratio": theirs["seconds"] / seconds, "same_verdicts": same,
            "shipyard": ours_emb.to_dict(), "evidently": theirs,
        }  # fmt: skip
        print(
            f"{name:18} {len(ref_emb):>8}/{len(cur_emb):<8} {ours_emb.status:>8} {seconds:>11.3f} "
            f"{theirs['seconds']:>12.3f} {theirs['seconds'] / seconds:>6.1f}×  {'same' if same else 'DIFFERENT'} "
            f"(AUC {ours_emb.score:.4f} vs {theirs['score']:.4f})"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"Evidently import: {evidently['import_seconds']:.1f} s; results in {RESULTS.relative_to(ROOT)}")
    if not all(s["same_verdicts"] for s in results["scenarios"].values()):
        sys.exit("verdicts differ from Evidently's")


if __name__ == "__main__":
    main()
