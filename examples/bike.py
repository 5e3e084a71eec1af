"""Bike-sharing demand: train a regressor on early 2011 and register it as `bike-demand`.

    python examples/bike.py                      # or: shipyard models train examples/bike.py
    python examples/bike.py --until 2011-06-30 --max-iter 300

Data: UCI Bike Sharing (Capital Bikeshare, 2011–2012), hourly counts with weather and calendar
features. The model is trained on the first months of 2011 (the reference data drift monitors
compare live traffic to) and scored on the two weeks after them. Demand grows and moves with the
seasons, so 2012 traffic drifts away from this reference — the story docs/operations.md tells.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from shipyard.models.training import start_run

FEATURES = [
    "season",
    "mnth",
    "hr",
    "holiday",
    "weekday",
    "workingday",
    "weathersit",
    "temp",
    "atemp",
    "hum",
    "windspeed",
]
TARGET = "cnt"
DATASET = "bike_sharing"
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def data_dir() -> Path:
    """SHIPYARD_EXAMPLE_DATA, else the project-relative `../shared/data` (beside this checkout)."""
    folder = Path(os.environ.get("SHIPYARD_EXAMPLE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    if not (folder / DATASET).is_dir():
        raise SystemExit(
            f"error: no {DATASET}/ in {folder}: set SHIPYARD_EXAMPLE_DATA to the folder holding {DATASET}/"
        )
    return folder


def load_hours() -> pd.DataFrame:
    frame = pd.read_csv(data_dir() / "bike_sharing" / "hour.csv.gz", parse_dates=["dteday"])
    # Integer codes stay integers (the signature says `long`); measurements are doubles.
    return frame.astype({c: "float64" for c in ("temp", "atemp", "hum", "windspeed")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--until", default="2011-04-30", help="last training day (default: 2011-04-30)")
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    args = parser.parse_args()

    hours = load_hours()
    until = pd.Timestamp(args.until)
    train = hours[hours.dteday <= until]
    test = hours[(hours.dteday > until) & (hours.dteday <= until + pd.Timedelta(days=14))]
    params = {
        "until": args.until,
        "max_iter": args.max_iter,
        "learning_rate": args.learning_rate,
        "train_rows": len(train),
        "test_rows": len(test),
    }

    with start_run("bike-demand", run_name=f"hgb-until-{args.until}") as run:
        mlflow.log_params(params)
        model = HistGradientBoostingRegressor(max_iter=args.max_iter, learning_rate=args.learning_rate, random_state=0)
        model.fit(train[FEATURES], train[TARGET])
        predicted = model.predict(test[FEATURES])
        metrics = {
            "rmse": float(np.sqrt(mean_squared_error(test[TARGET], predicted))),
            "mae": float(mean_absolute_error(test[TARGET], predicted)),
            "r2": float(r2_score(test[TARGET], predicted)),
        }
        mlflow.log_metrics(metrics)
        reference = train[FEATURES].assign(cnt=train[TARGET], prediction=model.predict(train[FEATURES]))
        # MLflow saves scikit-learn models with skops, which asks to name the types we trust.
        version = run.register(model, train[FEATURES], reference=reference, skops_trusted_types=TRUSTED_TYPES)
    print(f"registered {version}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))


if __name__ == "__main__":
    main()
