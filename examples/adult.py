"""Adult income: train a classifier (income >50K) and register it as `adult-income`.

    python examples/adult.py                     # or: shipyard models train examples/adult.py
    python examples/adult.py --C 0.5

Data: UCI Adult (1994 census extract): `adult.data` to train, `adult.test` to score. The split is
random, so the test rows do not drift from the training rows; a filtered slice of them (one
occupation, older people) does — the drift checks in docs/operations.md use both.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import mlflow
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from shipyard.models.training import start_run

COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
]
DATASET = "adult"
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
]


def data_dir() -> Path:
    """SHIPYARD_EXAMPLE_DATA, else the project-relative `../shared/data` (beside this checkout)."""
    folder = Path(os.environ.get("SHIPYARD_EXAMPLE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    if not (folder / DATASET).is_dir():
        raise SystemExit(
            f"error: no {DATASET}/ in {folder}: set SHIPYARD_EXAMPLE_DATA to the folder holding {DATASET}/"
        )
    return folder


def load(name: str) -> pd.DataFrame:
    """adult.data or adult.test: `?` is missing, the test file has a comment line and labels end in '.'."""
    frame = pd.read_csv(data_dir() / "adult" / name, names=COLUMNS, skipinitialspace=True, na_values="?", comment="|")
    frame = frame.dropna(subset=["income"])
    frame["income"] = frame["income"].str.rstrip(".").eq(">50K").astype("int64")
    frame[CATEGORICAL] = frame[CATEGORICAL].fillna("unknown")
    return frame.astype({c: "float64" for c in NUMERIC})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    args = parser.parse_args()

    train, test = load("adult.data.gz"), load("adult.test.gz")
    features = NUMERIC + CATEGORICAL
    with start_run("adult-income", run_name=f"logreg-C{args.C}") as run:
        mlflow.log_params({"C": args.C, "train_rows": len(train), "test_rows": len(test)})
        model = Pipeline(
            [
                (
                    "encode",
                    ColumnTransformer(
                        [
                            ("numeric", StandardScaler(), NUMERIC),
                            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
                        ]
                    ),
                ),
                ("classify", LogisticRegression(C=args.C, max_iter=1000)),
            ]
        )
        model.fit(train[features], train["income"])
        scores = model.predict_proba(test[features])[:, 1]
        metrics = {
            "accuracy": float(accuracy_score(test["income"], scores > 0.5)),
            "f1": float(f1_score(test["income"], scores > 0.5)),
            "roc_auc": float(roc_auc_score(test["income"], scores)),
        }
        mlflow.log_metrics(metrics)
        reference = train[features].assign(income=train["income"], prediction=model.predict(train[features]))
        version = run.register(model, train[features], reference=reference)
    print(f"registered {version}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))


if __name__ == "__main__":
    main()
