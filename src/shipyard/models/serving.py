"""The model server inside every API process: loads what deployments need, routes each request to
the champion, canary or shadow, batches, and hot-swaps when a deployment or its alias changes.

A refresh loop re-reads deployments (store) and their aliases (MLflow) every
`model_refresh_seconds`; a changed version is loaded in a worker thread and swapped in only once
it loaded, so a model that fails to load never replaces a working one. A runtime is immutable:
a request keeps the runtime it started with and finishes on that model, whatever is swapped in
meanwhile. The previous version stays loaded, so rollback needs no load at all.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import structlog

from shipyard.ids import ProjectId, new_id
from shipyard.models.batching import MicroBatcher
from shipyard.models.deployments import Deployment, DeploymentService
from shipyard.models.errors import ModelNotFound, ModelUnavailable, PredictionFailed
from shipyard.models.location import use
from shipyard.models.predictions import PredictionLog, PredictionRecord
from shipyard.models.schema import InputSchema
from shipyard.runtime.failures import RepeatedFailure
from shipyard.store.types import utcnow

if TYPE_CHECKING:
    import pandas as pd

log = structlog.get_logger(__name__)

ToFrame = Callable[[InputSchema], "pd.DataFrame"]
# Exceptions a model raises when the input is at fault (422); anything else means a broken model (503).
INPUT_ERRORS = (ValueError, TypeError, KeyError, IndexError)


@dataclass(frozen=True)
class LoadedModel:
    model: str
    version: int
    pyfunc: Any
    schema: InputSchema
    batcher: MicroBatcher
    loaded_at: float

    def predict_sync(self, frame: pd.DataFrame) -> list[Any]:
        # The pyfunc's implementation, not `pyfunc.predict`: inputs are already checked against the
        # signature (schema.py), and MLflow's second enforcement costs more than the prediction.
        implementation = getattr(self.pyfunc, "_model_impl", None)
        outputs = implementation.predict(frame) if implementation is not None else self.pyfunc.predict(frame)
        return as_list(outputs)


@dataclass(frozen=True)
class Runtime:
    deployment: Deployment
    # What takes the champion's traffic: the aliased version, or the last one that worked while
    # its successor fails to load.
    champion: LoadedModel | None
    models: dict[int, LoadedModel] = field(default_factory=dict)  # every loaded version
    # Why the deployment does not serve what its alias says (load failure, unapproved version).
    problem: str | None = None

    @property
    def ready(self) -> bool:
        return self.champion is not None

    def route(self, key: str | None) -> tuple[LoadedModel | None, str]:
        d = self.deployment
        canary = self.models.get(d.canary_version) if d.canary_version is not None else None
        if canary is not None and d.canary_percent > 0:
            # Sticky: the same key always lands on the same side of the split.
            draw = (zlib.crc32(key.encode()) % 10_000) / 100 if key else random.random() * 100
            if draw < d.canary_percent:
                return canary, "canary"
        return self.champion, "champion"


class ServingObserver(Protocol):
    """Where serving reports what it did (Prometheus metrics in the app)."""

    def observe_prediction(
        self, project_id: str, deployment: str, version: int, role: str, status: str, seconds: float
    ) -> None: ...
    def observe_batch(self, deployment: str, version: int, rows: int) -> None: ...
    def observe_load(self, deployment: str, ok: bool) -> None: ...


@dataclass(frozen=True)
class Prediction:
    id: str
    deployment: str
    model: str
    version: int
    role: str
    outputs: list[Any]
    latency_ms: float


class ModelServer:
    def __init__(
        self,
        deployments: DeploymentService,
        predictions: PredictionLog,
        *,
        refresh_seconds: float = 2.0,
        observer: ServingObserver | None = None,
    ) -> None:
        self.deployments = deployments
        self._refresh_failure = RepeatedFailure("model_refresh_failed")
        self.observer = observer
        self.registry = deployments.registry
        self.predictions = predictions
        self.refresh_seconds = refresh_seconds
        self._runtimes: dict[tuple[ProjectId, str], Runtime] = {}
        self._loaded: dict[tuple[ProjectId, str, int], LoadedModel] = {}
        self._sync_lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.synced = False

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin the refresh loop (the first sync loads every deployment in the background)."""
        self._task = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def sync_now(self) -> None:
        """Apply deployment changes made by this process immediately (the caller waits for loads)."""
        await anyio.to_thread.run_sync(self.sync)

    async def _refresh_loop(self) -> None:
        while True:
            try:
                await anyio.to_thread.run_sync(self.sync)
            except Exception as exc:  # noqa: BLE001 - a store hiccup must not stop serving
                self._refresh_failure.failed(exc)
            else:
                self._refresh_failure.succeeded()
            await asyncio.sleep(self.refresh_seconds)

    # -- reading ------------------------------------------------------------------------------

    def runtime(self, project_id: ProjectId, name: str) -> Runtime:
        runtime = self._runtimes.get((project_id, name))
        if runtime is None:
            self.deployments.get(project_id, name)  # 404 naming what exists, if it does not
            raise ModelUnavailable(f"deployment {name!r} is still loading; try again in a moment")
        return runtime

    def current(self, project_id: ProjectId, name: str) -> Runtime | None:
        """What this process serves for the deployment now (None before its first load)."""
        return self._runtimes.get((project_id, name))

    def all_runtimes(self) -> list[Runtime]:
        return list(self._runtimes.values())

    def names(self, project_id: ProjectId) -> list[str]:
        """The deployments this process serves (read from the store only before its first refresh)."""
        if self.synced:
            return sorted(name for project, name in self._runtimes if project == project_id)
        return [d.name for d in self.deployments.list(project_id)]

    # -- predicting ---------------------------------------------------------------------------

    async def predict(
        self,
        project_id: ProjectId,
        name: str,
        to_frame: ToFrame,
        *,
        key: str | None = None,
        version: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> Prediction:
        """Route, check the payload against the chosen model's signature, predict, log.
        Requests with inference `params` skip batching (a batch shares one set of params)."""
        runtime = self.runtime(project_id, name)
        if version is not None:
            model = runtime.models.get(version)
            if model is None:
                loaded = ", ".join(str(v) for v in sorted(runtime.models)) or "none"
                raise ModelNotFound(f"deployment {name!r} does not serve version {version}; it serves: {loaded}")
            d = runtime.deployment
            role = "champion" if version == d.version else "canary" if version == d.canary_version else "pinned"
        else:
            model, role = runtime.route(key)
        if model is None:
            raise ModelUnavailable(f"deployment {name!r} has no working model: {runtime.problem or 'still loading'}")
        frame = to_frame(model.schema)
        prediction_id = new_id("prd")
        started = time.perf_counter()
        try:
            if params:
                outputs = await anyio.to_thread.run_sync(lambda: as_list(model.pyfunc.predict(frame, params=params)))
            else:
                outputs = await model.batcher.predict(frame)
        except Exception as exc:
            latency = (time.perf_counter() - started) * 1000
            self._log(runtime, model, role, prediction_id, frame, None, latency, exc)
            if _input_fault(exc):
                raise PredictionFailed(
                    f"the model rejected the input (prediction {prediction_id}): {type(exc).__name__}: {exc}"
                ) from None
            raise ModelUnavailable(
                f"the model failed (prediction {prediction_id}): {type(exc).__name__}: {exc}"
            ) from None
        latency = (time.perf_counter() - started) * 1000
        self._log(runtime, model, role, prediction_id, frame, outputs, latency, None)
        shadow_version = runtime.deployment.shadow_version
        if shadow_version is not None and shadow_version in runtime.models:
            task = asyncio.get_running_loop().create_task(
                self._shadow(runtime, runtime.models[shadow_version], to_frame, prediction_id)
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return Prediction(prediction_id, name, model.model, model.version, role, outputs, latency)

    async def _shadow(self, runtime: Runtime, model: LoadedModel, to_frame: ToFrame, primary_id: str) -> None:
        """The shadow's answer is logged (linked to the served prediction's id) and never returned."""
        started = time.perf_counter()
        try:
            frame = to_frame(model.schema)
            outputs: list[Any] | None = await model.batcher.predict(frame)
            error: Exception | None = None
        except Exception as exc:  # noqa: BLE001 - a failing shadow must never reach the client
            outputs, error, frame = None, exc, None
        latency = (time.perf_counter() - started) * 1000
        self._log(runtime, model, "shadow", f"{primary_id}-shadow", frame, outputs, latency, error, force=True)

    def _log(
        self,
        runtime: Runtime,
        model: LoadedModel,
        role: str,
        prediction_id: str,
        frame: pd.DataFrame | None,
        outputs: list[Any] | None,
        latency_ms: float,
        error: Exception | None,
        *,
        force: bool = False,
    ) -> None:
        d = runtime.deployment
        if self.observer is not None:
            status = "ok" if error is None else "error"
            self.observer.observe_prediction(d.project_id, d.name, model.version, role, status, latency_ms / 1000)
        if error is None and not force and random.random() >= d.log_sample_rate:
            return
        inputs = {} if frame is None else {c: _jsonable(frame[c].tolist()) for c in frame.columns}
        self.predictions.record(
            PredictionRecord(
                id=prediction_id,
                project_id=d.project_id,
                deployment=d.name,
                model=model.model,
                version=model.version,
                role=role,
                at=utcnow(),
                latency_ms=latency_ms,
                status="ok" if error is None else "error",
                inputs=inputs,
                outputs=outputs,
                error=None if error is None else f"{type(error).__name__}: {error}",
            )
        )

    # -- syncing ------------------------------------------------------------------------------

    def sync(self) -> None:
        """Bring the runtimes in line with the store and MLflow (runs in a worker thread)."""
        with self._sync_lock:
            seen = set()
            for deployment in self.deployments.all():
                key = (deployment.project_id, deployment.name)
                seen.add(key)
                try:
                    self._runtimes[key] = self._sync_one(deployment, self._runtimes.get(key))
                except Exception as exc:  # noqa: BLE001 - one broken deployment must not stop the others
                    log.warning("deployment_sync_failed", deployment=deployment.name, error=str(exc))
            for gone in set(self._runtimes) - seen:
                del self._runtimes[gone]
            needed = {(p, r.deployment.model, v) for (p, _), r in self._runtimes.items() for v in r.models}
            for unused in set(self._loaded) - needed:
                del self._loaded[unused]
            self.synced = True

    def _sync_one(self, deployment: Deployment, current: Runtime | None) -> Runtime:
        problem = None
        try:
            aliased = self.registry.resolve(deployment.project_id, deployment.model, deployment.alias)
            if aliased != deployment.version:
                if self.deployments.is_servable(deployment.project_id, deployment.model, aliased):
                    deployment = self.deployments.observe_alias(deployment, aliased)
                else:
                    problem = (
                        f"alias {deployment.alias!r} points at version {aliased}, which is not approved; "
                        f"still serving version {deployment.version}"
                    )
        except Exception as exc:  # noqa: BLE001 - MLflow down: keep serving what is loaded
            problem = f"cannot check alias {deployment.alias!r}: {exc}"
        if current is not None and current.deployment.revision == deployment.revision and not problem:
            if all(v in current.models for v in deployment.versions) and current.champion is not None:
                return replace(current, deployment=deployment, problem=None)
        models: dict[int, LoadedModel] = {}
        for version in sorted(deployment.versions):
            try:
                models[version] = self._load(deployment, version)
            except Exception as exc:  # noqa: BLE001 - keep serving the last version that worked
                if self.observer is not None:
                    self.observer.observe_load(deployment.name, False)
                message = f"version {version} failed to load: {type(exc).__name__}: {exc}"
                log.warning("model_load_failed", deployment=deployment.name, version=version, error=str(exc))
                problem = message if problem is None else f"{problem}; {message}"
        champion = models.get(deployment.version)
        if champion is None and current is not None:
            champion = current.champion  # the working model stays until its successor loads
        return Runtime(deployment, champion, models, problem)

    def _load(self, deployment: Deployment, version: int) -> LoadedModel:
        key = (deployment.project_id, deployment.model, version)
        loaded = self._loaded.get(key)
        if loaded is not None:
            if (
                loaded.batcher.max_batch_size != deployment.max_batch_size
                or loaded.batcher.max_wait * 1000 != deployment.max_wait_ms
            ):
                loaded = self._loaded[key] = self._with_batcher(loaded, deployment)
            return loaded
        uri = self.registry.model_uri(deployment.project_id, deployment.model, version)
        self.registry.client()  # imports and configures MLflow
        use(self.registry.location)
        import mlflow.pyfunc

        started = time.perf_counter()
        pyfunc = mlflow.pyfunc.load_model(uri)
        if self.observer is not None:
            self.observer.observe_load(deployment.name, True)
        log.info(
            "model_loaded", model=deployment.model, version=version, seconds=round(time.perf_counter() - started, 2)
        )
        placeholder = MicroBatcher(lambda frame: [], max_batch_size=1)
        loaded = LoadedModel(deployment.model, version, pyfunc, InputSchema.of(pyfunc), placeholder, time.time())
        loaded = self._loaded[key] = self._with_batcher(loaded, deployment)
        return loaded

    def _with_batcher(self, loaded: LoadedModel, deployment: Deployment) -> LoadedModel:
        observer, name, version = self.observer, deployment.name, loaded.version
        on_call = (lambda rows: observer.observe_batch(name, version, rows)) if observer is not None else None
        batcher = MicroBatcher(
            loaded.predict_sync,
            max_batch_size=deployment.max_batch_size,
            max_wait_ms=deployment.max_wait_ms,
            on_call=on_call,
        )
        return replace(loaded, batcher=batcher)


def _input_fault(exc: Exception) -> bool:
    """Did the model reject its input (422), rather than fail (503)?"""
    if isinstance(exc, INPUT_ERRORS):
        return True
    return getattr(exc, "error_code", None) in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")


def as_list(outputs: Any) -> list[Any]:
    """Model outputs (numpy, pandas, lists) as JSON-ready lists, one item per input row."""
    if hasattr(outputs, "to_dict") and hasattr(outputs, "columns"):  # a DataFrame
        return _jsonable(outputs.to_dict(orient="records"))
    if hasattr(outputs, "tolist"):  # numpy arrays, pandas Series
        return _jsonable(outputs.tolist())
    return _jsonable(list(outputs))


def _jsonable(values: list[Any]) -> list[Any]:
    """NaN and infinities (not JSON) become null."""
    out: list[Any] = []
    for value in values:
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            out.append(None)
        elif hasattr(value, "item"):
            out.append(value.item())
        else:
            out.append(value)
    return out
