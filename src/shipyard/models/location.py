"""Where MLflow lives: embedded under `SHIPYARD_HOME` (SQLite + a folder) or a tracking server.

MLflow is configured once per process through this module, and never phones home: its usage
telemetry is switched off before it is imported (it is on by default in MLflow 3).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

# Set before `import mlflow`, unless the user chose otherwise in the environment.
_MLFLOW_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    # Downloading a run's artifacts (a monitor's reference data) draws a tqdm bar on a server's stderr.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # A tracking server that is down should fail a registry call in a second, not after MLflow's
    # default seven retries with exponential backoff (minutes); serving keeps its loaded models
    # either way. Two immediate retries remain: a pooled keep-alive connection the server has
    # closed meanwhile must not fail a call.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
_lock = threading.Lock()


@dataclass(frozen=True)
class MlflowLocation:
    tracking_uri: str
    # Where new experiments put their artifacts (embedded only; a server decides for itself).
    artifact_root: str | None = None

    @property
    def embedded(self) -> bool:
        return self.artifact_root is not None

    @property
    def printable(self) -> str:
        """The URI without a password, for logs and error messages."""
        scheme, sep, rest = self.tracking_uri.partition("://")
        if "@" in rest.split("/", 1)[0]:
            rest = rest.split("@", 1)[1]
        return f"{scheme}{sep}{rest}"


def mlflow_location(home: Path, mlflow_uri: str | None) -> MlflowLocation:
    """A tracking server when `mlflow_uri` is set, else MLflow embedded in `home/mlflow`."""
    if mlflow_uri:
        return MlflowLocation(mlflow_uri)
    folder = (home / "mlflow").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return MlflowLocation(f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri())


def use(location: MlflowLocation) -> None:
    """Point this process's MLflow (fluent API and `models:/` URIs) at `location`."""
    with _lock:
        for name, value in _MLFLOW_ENV.items():
            os.environ.setdefault(name, value)
        import mlflow

        if mlflow.get_tracking_uri() != location.tracking_uri:
            mlflow.set_tracking_uri(location.tracking_uri)
            mlflow.set_registry_uri(location.tracking_uri)
