"""Deployments: a served name bound to a registered model's alias, with a canary or a shadow.

    create  → serves `model@alias` (e.g. bike-demand@champion)
    canary  → a challenger version takes `percent` of the traffic (sticky per request key)
    shadow  → a challenger version gets a copy of every request; its answers are only logged
    promote → the alias moves to the challenger, which becomes the served version
    rollback→ drops a canary or shadow; without one, moves the alias back to the previous version

The alias in MLflow is the source of truth for the served version: when someone moves it (here or
with the `mlflow` client), every API process notices on its next refresh and records the move.
Only approved versions may take production traffic (a shadow takes none, so it needs no approval)
unless `SHIPYARD_MODELS_REQUIRE_APPROVAL=false`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shipyard.errors import Conflict, InvalidInput
from shipyard.events import AuditLog
from shipyard.ids import ProjectId, new_id
from shipyard.limits import StoreInt, check_length
from shipyard.models.errors import DeploymentNotFound, NotApproved
from shipyard.models.registry import ModelRegistry
from shipyard.names import check_name
from shipyard.specs import Spec
from shipyard.store import Database, DeploymentRow
from shipyard.store.types import utcnow

DEFAULT_ALIAS = "champion"


@dataclass(frozen=True)
class Deployment:
    id: str
    project_id: ProjectId
    name: str
    model: str
    alias: str
    version: int
    previous_version: int | None
    canary_version: int | None
    canary_percent: float
    shadow_version: int | None
    max_batch_size: int
    max_wait_ms: float
    log_sample_rate: float
    revision: int
    created_at: datetime
    updated_at: datetime

    @property
    def versions(self) -> set[int]:
        """Every version this deployment keeps loaded (the previous one too: rollback is instant)."""
        found = {self.version, self.previous_version, self.canary_version, self.shadow_version}
        return {v for v in found if v is not None}


@dataclass(frozen=True)
class ServingOptions:
    max_batch_size: int = 32
    max_wait_ms: float = 0.0  # 0: batch only what queued while the model was busy (no added wait)
    log_sample_rate: float = 1.0

    def checked(self) -> ServingOptions:
        if not 1 <= self.max_batch_size <= 10_000:
            raise InvalidInput(f"max_batch_size must be between 1 and 10000, got {self.max_batch_size}")
        if not 0 <= self.max_wait_ms <= 1000:
            raise InvalidInput(f"max_wait_ms must be between 0 and 1000, got {self.max_wait_ms}")
        if not 0 <= self.log_sample_rate <= 1:
            raise InvalidInput(f"log_sample_rate must be between 0 and 1, got {self.log_sample_rate}")
        return self


class CanarySpec(Spec):
    """A challenger version and the share of traffic it takes."""

    version: StoreInt
    percent: float = Field(
        description="Share of traffic, (0, 100].", json_schema_extra={"exclusiveMinimum": 0, "maximum": 100}
    )

    @field_validator("percent")
    @classmethod
    def _percent_fits(cls, percent: float) -> float:
        if not 0 < percent <= 100:
            raise ValueError(f"percent must be above 0 and at most 100, got {percent}")
        return percent


class DeploymentService:
    def __init__(
        self, database: Database, registry: ModelRegistry, audit: AuditLog, *, require_approval: bool = True
    ) -> None:
        self._db = database
        self.registry = registry
        self._audit = audit
        self.require_approval = require_approval
        registry.guard_alias_moves(self.check_alias_move)

    def create(
        self,
        project_id: ProjectId,
        name: str,
        model: str,
        *,
        alias: str = DEFAULT_ALIAS,
        options: ServingOptions | None = None,
        by: str,
    ) -> Deployment:
        check_name("deployment", name)
        options = (options or ServingOptions()).checked()
        if alias.isdigit():
            raise InvalidInput("deploy an alias (e.g. champion), not a version number: `models alias` moves it")
        version = self.registry.resolve(project_id, model, alias)
        self._check_approved(project_id, model, version, "serve")
        now = utcnow()
        row = DeploymentRow(
            id=new_id("dep"),
            project_id=project_id,
            name=name,
            model=model,
            alias=alias,
            version=version,
            previous_version=None,
            canary_version=None,
            canary_percent=0.0,
            shadow_version=None,
            max_batch_size=options.max_batch_size,
            max_wait_ms=options.max_wait_ms,
            log_sample_rate=options.log_sample_rate,
            revision=1,
            created_at=now,
            updated_at=now,
        )
        try:
            with self._db.write() as session:
                session.add(row)
        except IntegrityError:
            raise Conflict(f"deployment {name!r} already exists") from None
        self._audit.record(
            project_id,
            by,
            "deployment.created",
            f"deployment:{name}",
            {"model": model, "alias": alias, "version": version, **vars(options)},
        )
        return _deployment(row)

    def get(self, project_id: ProjectId, name: str) -> Deployment:
        with self._db.read() as session:
            return _deployment(self._row(session, project_id, name))

    def all(self) -> list[Deployment]:
        """Every project's deployments (what an API process serves)."""
        with self._db.read() as session:
            return [_deployment(r) for r in session.scalars(select(DeploymentRow)).all()]

    def list(self, project_id: ProjectId) -> list[Deployment]:
        with self._db.read() as session:
            rows = session.scalars(
                select(DeploymentRow).where(DeploymentRow.project_id == project_id).order_by(DeploymentRow.name)
            ).all()
            return [_deployment(r) for r in rows]

    def set_canary(self, project_id: ProjectId, name: str, spec: CanarySpec, *, by: str) -> Deployment:
        version, percent = spec.version, spec.percent
        deployment = self.get(project_id, name)
        self.registry.resolve(project_id, deployment.model, version)
        if version == deployment.version:
            raise InvalidInput(f"version {version} is already what {name!r} serves")
        self._check_approved(project_id, deployment.model, version, "take canary traffic")
        return self._change(
            project_id, name, by, "deployment.canary_set", {"canary_version": version, "canary_percent": float(percent)}
        )

    def set_shadow(self, project_id: ProjectId, name: str, version: int, *, by: str) -> Deployment:
        deployment = self.get(project_id, name)
        self.registry.resolve(project_id, deployment.model, version)
        if version == deployment.version:
            raise InvalidInput(f"version {version} is already what {name!r} serves")
        return self._change(project_id, name, by, "deployment.shadow_set", {"shadow_version": version})

    def configure(self, project_id: ProjectId, name: str, options: ServingOptions, *, by: str) -> Deployment:
        return self._change(project_id, name, by, "deployment.configured", dict(vars(options.checked())))

    def promote(self, project_id: ProjectId, name: str, *, by: str) -> Deployment:
        """Move the alias to the canary (or shadow) version; the old version stays loaded for rollback."""
        deployment = self.get(project_id, name)
        challenger = deployment.canary_version or deployment.shadow_version
        if challenger is None:
            raise InvalidInput(f"deployment {name!r} has no canary or shadow to promote")
        self._check_approved(project_id, deployment.model, challenger, "be promoted")
        self.registry.set_alias(project_id, deployment.model, deployment.alias, challenger, by=by)
        return self._change(
            project_id,
            name,
            by,
            "deployment.promoted",
            {
                "version": challenger,
                "previous_version": deployment.version,
                "canary_version": None,
                "canary_percent": 0.0,
                "shadow_version": None,
            },
        )

    def rollback(self, project_id: ProjectId, name: str, *, by: str, reason: str | None = None) -> Deployment:
        """Drop the canary/shadow; without one, move the alias back to the previous version."""
        check_length("reason", reason)
        deployment = self.get(project_id, name)
        if deployment.canary_version is not None or deployment.shadow_version is not None:
            changes: dict[str, Any] = {"canary_version": None, "canary_percent": 0.0, "shadow_version": None}
            detail = {"removed_canary": deployment.canary_version, "removed_shadow": deployment.shadow_version}
        elif deployment.previous_version is not None:
            back = deployment.previous_version
            self.registry.set_alias(project_id, deployment.model, deployment.alias, back, by=by, guarded=False)
            changes = {"version": back, "previous_version": deployment.version}
            detail = {"from_version": deployment.version, "to_version": back}
        else:
            raise InvalidInput(
                f"deployment {name!r} has nothing to roll back to (no canary, shadow or previous version)"
            )
        return self._change(project_id, name, by, "deployment.rolled_back", changes, {**detail, "reason": reason})

    def observe_alias(self, deployment: Deployment, version: int) -> Deployment:
        """Record that the alias now points at `version` (moved outside this deployment's commands)."""
        return self._change(
            deployment.project_id,
            deployment.name,
            "shipyard",
            "deployment.alias_moved",
            {"version": version, "previous_version": deployment.version},
            only_if=deployment.revision,
        )

    def delete(self, project_id: ProjectId, name: str, *, by: str) -> None:
        with self._db.write() as session:
            session.delete(self._row(session, project_id, name))
        self._audit.record(project_id, by, "deployment.deleted", f"deployment:{name}", {})

    def check_alias_move(self, project_id: ProjectId, model: str, alias: str, version: int) -> None:
        """Refuse to point a deployed alias at a version that may not take production traffic.

        Registered as the registry's alias guard, so every `set_alias` runs it (raises `NotApproved`)."""
        for deployment in self.list(project_id):
            if deployment.model == model and deployment.alias == alias:
                self._check_approved(project_id, model, version, f"serve deployment {deployment.name!r}")

    def is_servable(self, project_id: ProjectId, model: str, version: int) -> bool:
        return not self.require_approval or self.registry.approval(project_id, model, version).state == "approved"

    def _check_approved(self, project_id: ProjectId, model: str, version: int, what: str) -> None:
        if not self.require_approval:
            return
        approval = self.registry.approval(project_id, model, version)
        if approval.state != "approved":
            raise NotApproved(
                f"{model} version {version} is {approval.state}, so it may not {what}: "
                f"approve it first (`shipyard models approve {model} {version}`)"
            )

    def _change(
        self,
        project_id: ProjectId,
        name: str,
        by: str,
        action: str,
        changes: dict[str, Any],
        detail: dict[str, Any] | None = None,
        *,
        only_if: int | None = None,
    ) -> Deployment:
        with self._db.write() as session:
            row = self._row(session, project_id, name, lock=True)
            if only_if is not None and row.revision != only_if:
                return _deployment(row)  # another process recorded it first
            for key, value in changes.items():
                setattr(row, key, value)
            row.revision += 1
            row.updated_at = utcnow()
            result = _deployment(row)
        self._audit.record(project_id, by, action, f"deployment:{name}", {**changes, **(detail or {})})
        return result

    def _row(self, session: Any, project_id: ProjectId, name: str, *, lock: bool = False) -> DeploymentRow:
        query = select(DeploymentRow).where(DeploymentRow.project_id == project_id, DeploymentRow.name == name)
        row = session.scalars(query.with_for_update() if lock else query).first()
        if row is None:
            names = session.scalars(select(DeploymentRow.name).where(DeploymentRow.project_id == project_id)).all()
            raise DeploymentNotFound(
                f"no deployment {name!r} in this project; deployments: {', '.join(sorted(names)) or 'none'}"
            )
        return row  # type: ignore[no-any-return]


def _deployment(row: DeploymentRow) -> Deployment:
    return Deployment(
        id=row.id,
        project_id=ProjectId(row.project_id),
        name=row.name,
        model=row.model,
        alias=row.alias,
        version=row.version,
        previous_version=row.previous_version,
        canary_version=row.canary_version,
        canary_percent=row.canary_percent,
        shadow_version=row.shadow_version,
        max_batch_size=row.max_batch_size,
        max_wait_ms=row.max_wait_ms,
        log_sample_rate=row.log_sample_rate,
        revision=row.revision,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
