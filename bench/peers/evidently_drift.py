"""Evidently 0.7's DataDriftPreset on the scenarios bench/drift.py wrote; runs in .peers/v-evidently.

python evidently_drift.py SCENARIOS.json  →  JSON on stdout: per scenario, seconds and per column
(method, score, threshold, drifted) as Evidently reports them.
"""

import json
import sys
import time

t0 = time.perf_counter()
import pandas as pd  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - t0
METHODS = {  # Evidently's display names → shipyard's method names
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
}


def run(scenario: dict) -> dict:
    reference = pd.read_parquet(scenario["reference"])
    current = pd.read_parquet(scenario["current"])
    definition = DataDefinition(numerical_columns=scenario["numeric"], categorical_columns=scenario["categorical"])
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    seconds = time.perf_counter() - started
    columns, count = {}, None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            count = metric["value"]["count"]
            continue
        method = METHODS[config["method"]]
        score, threshold = metric["value"], config["threshold"]
        if method in ("wasserstein", "jensenshannon"):
            drifted = score >= threshold
        else:
            drifted = score <= threshold if method == "ks" else score < threshold
        columns[config["column"]] = {"method": method, "score": score, "threshold": threshold, "drifted": bool(drifted)}
    return {"seconds": seconds, "drifted_count": count, "columns": columns}


def run_embeddings(scenario: dict) -> dict:
    """Evidently's legacy EmbeddingsDriftMetric (its default: the classifier method)."""
    import numpy as np
    from evidently.legacy.metrics import EmbeddingsDriftMetric
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.report import Report as LegacyReport

    reference, current = np.load(scenario["reference"]), np.load(scenario["current"])
    columns = [f"e{i}" for i in range(reference.shape[1])]
    started = time.perf_counter()
    report = LegacyReport(metrics=[EmbeddingsDriftMetric("emb")])
    report.run(
        reference_data=pd.DataFrame(reference, columns=columns),
        current_data=pd.DataFrame(current, columns=columns),
        column_mapping=ColumnMapping(embeddings={"emb": columns}),
    )
    result = report.as_dict()["metrics"][0]["result"]
    return {"seconds": time.perf_counter() - started, "score": result["drift_score"],
            "drifted": bool(result["drift_detected"])}  # fmt: skip


if __name__ == "__main__":
    scenarios = json.loads(open(sys.argv[1]).read())
    results = {s["name"]: run_embeddings(s) if s.get("embeddings") else run(s) for s in scenarios}
    json.dump({"import_seconds": IMPORT_SECONDS, "scenarios": results}, sys.stdout)
