"""Public value objects of the auth domain (never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shipyard.ids import ApiKeyId, ProjectId


class Role(StrEnum):
    """What a key may do. admin ⊃ editor ⊃ viewer.

    admin is the operator role: it manages projects and the keys of every project. editor and
    viewer act only inside their own project (editor writes, viewer reads).
    """

    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True)
class Project:
    id: ProjectId
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    id: ApiKeyId
    name: str
    role: Role
    project_id: ProjectId
    project: str
    prefix: str
    rate_limit_per_minute: int | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class CreatedKey:
    """A new key with its secret: the only time the secret exists outside the caller's hands."""

    key: ApiKey
    secret: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: the verified key, its project and role."""

    key_id: ApiKeyId
    key_name: str
    project_id: ProjectId
    project: str
    role: Role
    rate_limit_per_minute: int | None
