"""Registered models, their versions and approvals, as the API answers and `shipyard models … --json` prints them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from shipyard.models import ModelVersion, RegisteredModel


class ApprovalPublic(BaseModel):
    state: str
    by: str | None
    at: datetime | None
    reason: str | None


class ModelVersionPublic(BaseModel):
    model: str
    version: int
    aliases: list[str]
    approval: ApprovalPublic
    run_id: str | None
    created_at: datetime
    status: str
    tags: dict[str, str]
    metrics: dict[str, float]
    params: dict[str, str]
    description: str | None

    @classmethod
    def of(cls, version: ModelVersion) -> ModelVersionPublic:
        values = dict(vars(version))
        values["aliases"] = list(version.aliases)
        values["approval"] = ApprovalPublic(**vars(version.approval))
        return cls(**values)


class RegisteredModelPublic(BaseModel):
    name: str
    latest_version: int | None
    aliases: dict[str, int]
    description: str | None
    updated_at: datetime
    tags: dict[str, str]

    @classmethod
    def of(cls, model: RegisteredModel) -> RegisteredModelPublic:
        return cls(**vars(model))
