"""One embedded MLflow with real registered models, trained once per test session by the
examples themselves; each test gets its own copy of the registry database."""

from __future__ import annotations

import runpy
import shutil
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

from shipyard.models.location import mlflow_location
from shipyard.platform import Platform, build_platform
from shipyard.settings import Settings, get_settings
from shipyard.store import upgrade
from tests.conftest import LiveServer, make_settings, serve
from tests.webhook_receiver import LOOPBACK

ROOT = Path(__file__).resolve().parents[2]
BIKE_COLUMNS = ["season", "mnth", "hr", "holiday", "weekday", "workingday", "weathersit", "temp", "atemp", "hum",
                "windspeed"]  # fmt: skip
BIKE_ROW = {"season": 1, "mnth": 1, "hr": 8, "holiday": 0, "weekday": 3, "workingday": 1, "weathersit": 1,
            "temp": 0.24, "atemp": 0.2879, "hum": 0.81, "windspeed": 0.0}  # fmt: skip


def _train_flaky() -> None:
    """flaky v1 rejects negative input (ValueError) and breaks on 13 (RuntimeError); v2 breaks above 3."""
    import mlflow
    import pandas as pd

    from shipyard.models.training import start_run

    class FlakyModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            x = model_input["x"]
            if (x < 0).any():
                raise ValueError("x must not be negative")
            if (x == 13).any():
                raise RuntimeError("the model is broken")
            return x * 2

    class BrokenModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        """A bad build: fine on its training rows (1-3), broken on anything else (a canary made to fail)."""

        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            if (model_input["x"] > 3).any():
                raise RuntimeError("this build is broken")
            return model_input["x"] * 2

    with start_run("flaky") as run, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Any type hint is inferred as AnyType"
        run.register(FlakyModel(), pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    with start_run("flaky") as run, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        run.register(BrokenModel(), pd.DataFrame({"x": [1.0, 2.0, 3.0]}))


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """An MLflow home with bike-demand v1 and v2 (examples/bike.py, two settings), flaky v1 and
    flaky v2 (a bad build: fails on any x above 3). Trained once per run: pytest-xdist workers
    share it through the run's base temporary folder, the first one to get the lock trains."""
    if worker_id == "master":  # not under xdist
        return _train_template(tmp_path_factory.mktemp("mlflow-template"))
    shared = tmp_path_factory.getbasetemp().parent / "mlflow-template"
    with FileLock(str(shared) + ".lock"):
        if not (shared / "trained").exists():
            _train_template(shared)
            (shared / "trained").touch()
    return shared


def _train_template(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    get_settings.cache_clear()
    try:
        for argv in (["bike.py"], ["bike.py", "--max-iter", "50"]):
            monkeypatch.setattr(sys, "argv", argv)
            runpy.run_path(str(ROOT / "examples" / "bike.py"), run_name="__main__")
        _train_flaky()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    return home


@pytest.fixture
def model_settings(tmp_path: Path, database_url: str, mlflow_template: Path) -> Settings:
    """Settings whose embedded MLflow is a private copy of the template registry."""
    # Webhook and notifier receivers in these tests listen on loopback: allowed as an operator would.
    settings = make_settings(tmp_path, database_url, model_refresh_seconds=0.2, url_allow_networks=LOOPBACK)
    target = mlflow_location(settings.home, None)
    source = mlflow_template / "mlflow" / "mlflow.db"
    shutil.copy(source, Path(target.tracking_uri.removeprefix("sqlite:///")))
    return settings


@pytest.fixture
def model_services(model_settings: Settings) -> Iterator[Platform]:
    built = build_platform(model_settings)
    upgrade(built.database)
    yield built
    built.close()


@pytest.fixture
def model_live(model_services: Platform) -> Iterator[LiveServer]:
    with serve(model_services) as server:
        yield server
