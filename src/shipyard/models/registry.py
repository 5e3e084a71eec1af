"""The model registry: MLflow's registered models, versions, aliases and tags, scoped to a
project, plus what MLflow does not have: an approval state per version and an audit log.

A project's models live in MLflow as `<project>.<name>` (MLflow names cannot contain `/`), tagged
`shipyard.project`, so one MLflow serves many projects and none sees another's models. MLflow
stays the source of truth for versions and aliases — a user may move an alias with the `mlflow`
client and shipyard follows — while approvals live in shipyard's store (mirrored as the version tag
`shipyard.approval`, so the MLflow UI shows them).
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy import select

from shipyard.errors import InvalidInput
from shipyard.events import AuditLog
from shipyard.ids import ProjectId
from shipyard.limits import check_length, version_number
from shipyard.models.errors import ModelNotFound, RegistryUnavailable
from shipyard.models.location import MlflowLocation, use
from shipyard.names import check_name
from shipyard.store import Database, ModelApprovalRow, ProjectRow
from shipyard.store.types import utcnow

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

T = TypeVar("T")
# (project_id, model, alias, version) -> None, raising to refuse the move.
AliasGuard = Callable[[ProjectId, str, str, int], None]
ApprovalState = Literal["pending", "approved", "rejected"]
PROJECT_TAG = "shipyard.project"
# Where training logs the data a version learned from, in its MLflow run (drift monitors' reference).
REFERENCE_ARTIFACT = "reference/data.parquet"
APPROVAL_TAG = "shipyard.approval"
# MLflow's key limit (250), and a value a person reads beside a version (MLflow allows 100,000).
MAX_TAG_KEY_CHARS = 250
MAX_TAG_VALUE_CHARS = 5000
_RESERVED_ALIAS = re.compile(r"^(v\d+|latest)$", re.IGNORECASE)


@dataclass(frozen=True)
class Approval:
    state: ApprovalState
    by: str | None = None
    at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: int
    aliases: tuple[str, ...]
    approval: Approval
    run_id: str | None
    created_at: datetime
    status: str
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    description: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.model}/{self.version}"


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    latest_version: int | None
    aliases: dict[str, int]
    description: str | None
    updated_at: datetime
    tags: dict[str, str]


def qualified_name(project: str, model: str) -> str:
    """The MLflow registered-model name of `model` in `project` (names follow shipyard's rule)."""
    return f"{project}.{check_name('model', model)}"


class ModelRegistry:
    def __init__(self, database: Database, location: MlflowLocation, audit: AuditLog) -> None:
        self._db = database
        self.location = location
        self._audit = audit
        self._client: MlflowClient | None = None
        self._lock = threading.Lock()
        self._project_names: dict[ProjectId, str] = {}
        self._alias_guards: list[AliasGuard] = []

    def guard_alias_moves(self, guard: AliasGuard) -> None:
        """Run `guard(project_id, model, alias, version)` before every alias move, whichever edge
        asks: the deployment service registers its approval rule here, so no caller can skip it."""
        self._alias_guards.append(guard)

    # -- reading ------------------------------------------------------------------------------

    def models(self, project_id: ProjectId) -> list[RegisteredModel]:
        prefix = self._prefix(project_id)
        found = self._call(
            lambda c: c.search_registered_models(filter_string=f"name LIKE '{prefix}%'", max_results=1000)
        )
        models = []
        for model in found:
            if not model.name.startswith(prefix):  # LIKE's `_` matches any character
                continue
            versions = self._search_versions(model.name)
            models.append(
                RegisteredModel(
                    name=model.name[len(prefix) :],
                    latest_version=max((int(v.version) for v in versions), default=None),
                    aliases={alias: int(v) for alias, v in (model.aliases or {}).items()},
                    description=model.description or None,
                    updated_at=_time(model.last_updated_timestamp),
                    tags=dict(model.tags or {}),
                )
            )
        return sorted(models, key=lambda m: m.name)

    def versions(self, project_id: ProjectId, model: str) -> list[ModelVersion]:
        """Every version of `model`, newest first, with its run's metrics and its approval."""
        registered = self._registered(project_id, model)
        found = self._search_versions(registered.name)
        approvals = self._approvals(project_id, model)
        # MLflow's version search leaves `aliases` empty; the registered model has them all.
        aliases: dict[int, list[str]] = {}
        for alias, number in (registered.aliases or {}).items():
            aliases.setdefault(int(number), []).append(alias)
        return sorted(
            (self._version(model, v, approvals.get(int(v.version)), aliases.get(int(v.version))) for v in found),
            key=lambda v: v.version,
            reverse=True,
        )

    def version(self, project_id: ProjectId, model: str, ref: str | int) -> ModelVersion:
        """One version by number or alias (`3`, `champion`). Raises `ModelNotFound` naming what exists."""
        number = self.resolve(project_id, model, ref)
        name = qualified_name(self._project_name(project_id), model)
        found = self._call(lambda c: c.get_model_version(name, str(number)))
        return self._version(model, found, self._approvals(project_id, model).get(number))

    def resolve(self, project_id: ProjectId, model: str, ref: str | int) -> int:
        """The version number `ref` names: a number, or an alias of `model`."""
        text = str(ref)
        number = version_number(text)  # InvalidInput past the column's range
        registered = self._registered(project_id, model)
        if number is not None:
            versions = {int(v.version) for v in self._search_versions(registered.name)}
            if number not in versions:
                known = ", ".join(str(v) for v in sorted(versions)) or "none"
                raise ModelNotFound(f"model {model!r} has no version {text}; versions: {known}")
            return number
        aliases = registered.aliases or {}
        if text not in aliases:
            known = ", ".join(f"{a}→{v}" for a, v in sorted(aliases.items())) or "none"
            raise ModelNotFound(f"model {model!r} has no alias {text!r}; aliases: {known}")
        return int(aliases[text])

    def approval(self, project_id: ProjectId, model: str, version: int) -> Approval:
        return self._approvals(project_id, model).get(version) or Approval("pending")

    def model_uri(self, project_id: ProjectId, model: str, version: int) -> str:
        return f"models:/{qualified_name(self._project_name(project_id), model)}/{version}"

    def reference_data(self, project_id: ProjectId, model: str, version: int) -> pd.DataFrame:
        """The reference data logged with `version` (its training data, sampled, plus the model's
        predictions on it). Raises ModelNotFound when the version has none."""
        import pandas as pd

        run_id = self.version(project_id, model, version).run_id
        if not run_id:
            raise ModelNotFound(f"{model} version {version} has no MLflow run, so no reference data")
        folder_name = REFERENCE_ARTIFACT.rsplit("/", 1)[0]
        logged = self._call(lambda c: [a.path for a in c.list_artifacts(run_id, folder_name)])
        if REFERENCE_ARTIFACT not in logged:
            raise ModelNotFound(
                f"{model} version {version} has no reference data ({REFERENCE_ARTIFACT} in its run): train it with "
                "shipyard.models.training, or give the monitor a window of logged traffic as its reference"
            )
        with tempfile.TemporaryDirectory() as folder:
            path = self._call(lambda c: c.download_artifacts(run_id, REFERENCE_ARTIFACT, folder))
            return pd.read_parquet(path)

    def client(self) -> MlflowClient:
        """The MLflow client for this location (imports MLflow on first use: ~3 s)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    use(self.location)
                    from mlflow import MlflowClient

                    self._client = MlflowClient(self.location.tracking_uri, self.location.tracking_uri)
        return self._client

    # -- changing -----------------------------------------------------------------------------

    def set_alias(
        self, project_id: ProjectId, model: str, alias: str, version: int, *, by: str, guarded: bool = True
    ) -> ModelVersion:
        """Point `alias` at `version` (creating or moving it); audited as `model.alias_set`.

        The registered guards run first (a deployed alias moves only to an approved version:
        `NotApproved`). Only a deployment's rollback passes `guarded=False`: it restores the version
        that deployment already served."""
        _check_alias(alias)
        name = qualified_name(self._project_name(project_id), model)
        self.resolve(project_id, model, version)
        if guarded:
            for guard in self._alias_guards:
                guard(project_id, model, alias, version)
        before = self._call(lambda c: c.get_registered_model(name)).aliases or {}
        self._call(lambda c: c.set_registered_model_alias(name, alias, str(version)))
        previous = int(before[alias]) if alias in before else None
        self._audit.record(
            project_id,
            by,
            "model.alias_set",
            f"model:{model}/{version}",
            {"model": model, "alias": alias, "version": version, "previous_version": previous},
        )
        return self.version(project_id, model, version)

    def delete_alias(self, project_id: ProjectId, model: str, alias: str, *, by: str) -> None:
        version = self.resolve(project_id, model, alias) if not alias.isdigit() else None
        if version is None:
            raise InvalidInput(f"{alias!r} is a version number, not an alias")
        name = qualified_name(self._project_name(project_id), model)
        self._call(lambda c: c.delete_registered_model_alias(name, alias))
        self._audit.record(
            project_id,
            by,
            "model.alias_deleted",
            f"model:{model}/{version}",
            {"model": model, "alias": alias, "version": version},
        )

    def set_tag(self, project_id: ProjectId, model: str, version: int, key: str, value: str, *, by: str) -> None:
        if not key:
            raise InvalidInput("a tag needs a key")
        check_length("tag key", key, MAX_TAG_KEY_CHARS)
        check_length("tag value", value, MAX_TAG_VALUE_CHARS)
        if key.startswith("shipyard."):
            raise InvalidInput(f"tags starting with 'shipyard.' are kept by shipyard; {key!r} cannot be set")
        self.resolve(project_id, model, version)
        name = qualified_name(self._project_name(project_id), model)
        self._call(lambda c: c.set_model_version_tag(name, str(version), key, value))
        self._audit.record(
            project_id,
            by,
            "model.tag_set",
            f"model:{model}/{version}",
            {"model": model, "version": version, "key": key, "value": value},
        )

    def approve(
        self, project_id: ProjectId, model: str, version: int, *, by: str, reason: str | None = None
    ) -> ModelVersion:
        return self._decide(project_id, model, version, "approved", by=by, reason=reason)

    def reject(self, project_id: ProjectId, model: str, version: int, *, by: str, reason: str) -> ModelVersion:
        if not reason.strip():
            raise InvalidInput("a rejection needs a reason (--reason)")
        return self._decide(project_id, model, version, "rejected", by=by, reason=reason)

    def _decide(
        self, project_id: ProjectId, model: str, version: int, state: ApprovalState, *, by: str, reason: str | None
    ) -> ModelVersion:
        check_length("reason", reason)
        self.resolve(project_id, model, version)
        name = qualified_name(self._project_name(project_id), model)
        self._call(lambda c: c.set_model_version_tag(name, str(version), APPROVAL_TAG, state))
        now = utcnow()
        with self._db.write() as session:
            row = session.get(ModelApprovalRow, (project_id, model, version))
            before = row.state if row is not None else "pending"
            if row is None:
                session.add(
                    ModelApprovalRow(
                        project_id=project_id,
                        model=model,
                        version=version,
                        state=state,
                        decided_by=by,
                        decided_at=now,
                        reason=reason,
                    )
                )
            else:
                row.state, row.decided_by, row.decided_at, row.reason = state, by, now, reason
        self._audit.record(
            project_id,
            by,
            f"model.{state}",
            f"model:{model}/{version}",
            {"model": model, "version": version, "reason": reason, "previous_state": before},
        )
        return self.version(project_id, model, version)

    # -- helpers ------------------------------------------------------------------------------

    def _call(self, operation: Callable[[MlflowClient], T]) -> T:
        """Run one MLflow call, translating its failures into shipyard errors."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            return operation(client)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise ModelNotFound(_first_line(exc.message)) from None
            if exc.error_code == "INVALID_PARAMETER_VALUE":
                raise InvalidInput(_first_line(exc.message)) from None
            raise RegistryUnavailable(
                f"MLflow at {self.location.printable} failed: {_first_line(exc.message)}"
            ) from None
        except OSError as exc:  # requests' ConnectionError is an OSError too
            raise RegistryUnavailable(f"MLflow at {self.location.printable} is unreachable: {exc}") from None

    def _search_versions(self, name: str) -> list[Any]:
        return list(self._call(lambda c: c.search_model_versions(f"name='{name}'", max_results=10_000)))

    def _registered(self, project_id: ProjectId, model: str) -> Any:
        """MLflow's registered model (name, aliases); `ModelNotFound` naming the project's models."""
        name = qualified_name(self._project_name(project_id), model)
        try:
            return self._call(lambda c: c.get_registered_model(name))
        except ModelNotFound:
            known = ", ".join(m.name for m in self.models(project_id)) or "none"
            raise ModelNotFound(f"no model {model!r} in this project; models: {known}") from None

    def _prefix(self, project_id: ProjectId) -> str:
        return f"{self._project_name(project_id)}."

    def _project_name(self, project_id: ProjectId) -> str:
        name = self._project_names.get(project_id)
        if name is None:
            with self._db.read() as session:
                row = session.get(ProjectRow, project_id)
                if row is None:
                    raise ModelNotFound(f"no project {project_id!r}")
                name = self._project_names[project_id] = row.name
        return name

    def _approvals(self, project_id: ProjectId, model: str) -> dict[int, Approval]:
        with self._db.read() as session:
            rows = session.scalars(
                select(ModelApprovalRow).where(
                    ModelApprovalRow.project_id == project_id, ModelApprovalRow.model == model
                )
            ).all()
            return {r.version: Approval(r.state, r.decided_by, r.decided_at, r.reason) for r in rows}  # type: ignore[arg-type]

    def _version(
        self, model: str, found: Any, approval: Approval | None, aliases: list[str] | None = None
    ) -> ModelVersion:
        metrics: dict[str, float] = {}
        params: dict[str, str] = {}
        if found.run_id:
            try:
                run = self._call(lambda c: c.get_run(found.run_id))
                metrics, params = dict(run.data.metrics), dict(run.data.params)
            except ModelNotFound:
                pass  # the run was deleted; the version still serves
        return ModelVersion(
            model=model,
            version=int(found.version),
            aliases=tuple(sorted(aliases if aliases is not None else (found.aliases or ()))),
            approval=approval or Approval("pending"),
            run_id=found.run_id or None,
            created_at=_time(found.creation_timestamp),
            status=str(found.status),
            tags={k: v for k, v in (found.tags or {}).items() if k != APPROVAL_TAG},
            metrics=metrics,
            params=params,
            description=found.description or None,
        )


def _check_alias(alias: str) -> None:
    check_name("alias", alias)
    if _RESERVED_ALIAS.match(alias) or alias.isdigit():
        raise InvalidInput(f"alias {alias!r} is reserved by MLflow (version numbers, v<N>, latest)")


def _time(millis: int | None) -> datetime:
    return datetime.fromtimestamp((millis or 0) / 1000, tz=UTC)


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "unknown error"
