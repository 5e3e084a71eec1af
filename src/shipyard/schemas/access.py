"""Projects and keys, as the API answers and `shipyard projects|keys … --json` prints them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shipyard.auth import CreatedKey, Role
from shipyard.schemas.base import Public


class ProjectRef(Public):
    id: str
    name: str


class MePublic(BaseModel):
    key_id: str
    key_name: str
    role: Role
    project: ProjectRef


class ProjectPublic(Public):
    id: str
    name: str
    created_at: datetime


class KeyPublic(Public):
    id: str
    name: str
    role: Role
    project: str
    prefix: str = Field(description="First characters of the key, to tell keys apart.")
    rate_limit_per_minute: int | None
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The secret. Shown once: only its hash is stored.")

    @classmethod
    def of(cls, created: CreatedKey) -> KeyCreated:
        return cls(**KeyPublic.model_validate(created.key).model_dump(), key=created.secret)
