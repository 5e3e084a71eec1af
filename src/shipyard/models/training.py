"""What a training script needs from shipyard: the MLflow run, and one call that registers a model
the way serving and drift monitoring expect it (signature, input example, reference data).

    with start_run("bike-demand") as run:
        mlflow.log_params(params)          # plain MLflow for everything else
        model.fit(X, y)
        mlflow.log_metrics({"rmse": rmse})
        version = run.register(model, X, reference=train)

Everything else is plain MLflow, so an existing training script needs two lines changed.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.models.location import MlflowLocation, mlflow_location, use
from shipyard.models.predictions import PREDICTION_COLUMN
from shipyard.models.registry import APPROVAL_TAG, PROJECT_TAG, REFERENCE_ARTIFACT, qualified_name
from shipyard.names import check_name
from shipyard.settings import Settings, get_settings

# Enough rows for any drift test to be stable; bigger training sets are sampled (seeded).
REFERENCE_MAX_ROWS = 100_000


@dataclass(frozen=True)
class RegisteredVersion:
    project: str
    model: str
    version: int
    run_id: str

    def __str__(self) -> str:
        return f"{self.model} version {self.version} (project {self.project}, run {self.run_id})"


class TrainingRun:
    def __init__(self, project: str, model: str, run: Any, location: MlflowLocation) -> None:
        self.project = project
        self.model = model
        self.run = run
        self.location = location

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)

    def register(
        self, model: Any, X: Any, *, reference: Any = None, description: str | None = None, **log_options: Any
    ) -> RegisteredVersion:
        """Log `model` (scikit-learn, or an `mlflow.pyfunc.PythonModel`) with its signature
        inferred from `X` and its predictions, five rows of `X` as the input example, and
        `reference` (default: `X`) as the reference data drift monitors compare live traffic to;
        then register it as the next version of this run's model, pending approval. `log_options`
        go to MLflow's `log_model` (e.g. `skops_trusted_types` for models skops does not trust)."""
        import mlflow
        from mlflow.models import infer_signature

        sample = X.iloc[: min(len(X), 1000)]
        with warnings.catch_warnings():  # MLflow's hint that integer columns cannot hold NaN
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            python_model = isinstance(model, mlflow.pyfunc.PythonModel)
            outputs = model.predict(None, sample) if python_model else model.predict(sample)
            signature = infer_signature(sample, outputs)
        name = qualified_name(self.project, self.model)
        options: dict[str, Any] = {
            "name": "model",
            "signature": signature,
            "input_example": X.iloc[:5],
            "registered_model_name": name,
            **log_options,
        }
        if python_model:
            info = mlflow.pyfunc.log_model(python_model=model, **options)
        else:
            info = mlflow.sklearn.log_model(model, **options)
        frame = X if reference is None else reference
        if len(frame) > REFERENCE_MAX_ROWS:
            frame = frame.sample(REFERENCE_MAX_ROWS, random_state=0)
        frame = _with_predictions(model, frame, python_model)
        dataset = mlflow.data.from_pandas(frame, name=f"{self.model}-reference")  # type: ignore[attr-defined]
        mlflow.log_input(dataset, context="reference")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / Path(REFERENCE_ARTIFACT).name
            frame.to_parquet(path, index=False)
            mlflow.log_artifact(str(path), artifact_path=str(Path(REFERENCE_ARTIFACT).parent))
        version = int(info.registered_model_version)
        client = mlflow.MlflowClient()
        client.set_registered_model_tag(name, PROJECT_TAG, self.project)
        client.set_model_version_tag(name, str(version), APPROVAL_TAG, "pending")
        if description:
            client.update_model_version(name, str(version), description=description)
        return RegisteredVersion(self.project, self.model, version, self.run_id)


def _with_predictions(model: Any, frame: Any, python_model: bool) -> Any:
    """The reference plus the model's own predictions on it as `prediction`, so monitors can
    compare served predictions with these (prediction drift). Skipped when the model cannot
    predict the reference (a reference with other columns) or gives more than one value per row."""
    if PREDICTION_COLUMN in frame.columns:
        return frame
    try:
        outputs = model.predict(None, frame) if python_model else model.predict(frame)
    except Exception:  # noqa: BLE001 - a reference the model cannot read is still a reference
        return frame
    if getattr(outputs, "ndim", 1) != 1 or len(outputs) != len(frame):
        return frame
    import numpy as np

    return frame.assign(**{PREDICTION_COLUMN: np.asarray(outputs)})


@contextmanager
def start_run(
    model: str, *, project: str | None = None, run_name: str | None = None, settings: Settings | None = None
) -> Iterator[TrainingRun]:
    """An MLflow run in the experiment `<project>.<model>`, on the MLflow shipyard is configured with
    (embedded under SHIPYARD_HOME, or SHIPYARD_MLFLOW_URI)."""
    settings = settings or get_settings()
    project = check_name("project", project or settings.models.project)
    location = mlflow_location(settings.home, settings.models.mlflow_uri)
    use(location)  # before MLflow's first import: it turns MLflow's telemetry off
    import mlflow

    experiment_name = qualified_name(project, model)
    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is None:
        mlflow.create_experiment(
            experiment_name,
            artifact_location=f"{location.artifact_root}/{experiment_name}" if location.artifact_root else None,
            tags={PROJECT_TAG: project},
        )
    mlflow.set_experiment(experiment_name)
    with mlflow.start_run(run_name=run_name) as run:
        yield TrainingRun(project, model, run, location)
