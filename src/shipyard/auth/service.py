"""Use cases for projects and API keys. Owns its transactions; callers never see ORM rows."""

from __future__ import annotations

import hashlib
import time

from pydantic import Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.auth.keys import display_prefix, generate_secret, hash_secret
from shipyard.auth.models import ApiKey, CreatedKey, Principal, Project, Role
from shipyard.errors import Conflict, NotFound, Unauthenticated
from shipyard.ids import ApiKeyId, ProjectId, new_id
from shipyard.names import check_name
from shipyard.specs import Spec
from shipyard.store import ApiKeyRow, Database, ProjectRow
from shipyard.store.types import utcnow

DEFAULT_PROJECT = "default"
# Stored in a 32-bit INTEGER column; a billion a minute is already "no limit".
MAX_RATE_LIMIT = 1_000_000_000
MAX_KEY_NAME_CHARS = 128


class KeySpec(Spec):
    """A new API key: the API's body, the CLI's options."""

    name: str = Field(
        description="What the key is for, e.g. ci or grafana.", json_schema_extra={"maxLength": MAX_KEY_NAME_CHARS}
    )
    role: Role
    project: str = Field(default=DEFAULT_PROJECT, description="Project (name) the key belongs to.")
    rate_limit_per_minute: int | None = Field(
        default=None,
        description="Requests per minute; overrides the default limit.",
        json_schema_extra={"minimum": 1, "maximum": MAX_RATE_LIMIT},
    )

    @field_validator("name")
    @classmethod
    def _name_fits(cls, name: str) -> str:
        if not name.strip() or len(name) > MAX_KEY_NAME_CHARS:
            raise ValueError(f"key name must be 1-{MAX_KEY_NAME_CHARS} characters")
        return name.strip()

    @field_validator("rate_limit_per_minute")
    @classmethod
    def _limit_fits(cls, limit: int | None) -> int | None:
        if limit is not None and not 1 <= limit <= MAX_RATE_LIMIT:
            raise ValueError(f"rate_limit_per_minute must be between 1 and {MAX_RATE_LIMIT}, got {limit}")
        return limit


class AccessService:
    """Projects, keys and the verification of a presented key."""

    def __init__(self, database: Database, *, cache_seconds: float = 5.0) -> None:
        self._db = database
        self._cache_seconds = cache_seconds
        # sha256 digest of the secret -> (principal, monotonic expiry); never the secret itself.
        self._cache: dict[bytes, tuple[Principal, float]] = {}

    # -- projects ---------------------------------------------------------------------------

    def create_project(self, name: str) -> Project:
        check_name("project", name)
        row = ProjectRow(id=new_id("prj"), name=name, created_at=utcnow())
        try:
            with self._db.write() as session:
                session.add(row)
        except IntegrityError as exc:
            raise Conflict(f"project {name!r} already exists") from exc
        return _project(row)

    def list_projects(self) -> list[Project]:
        with self._db.read() as session:
            rows = session.scalars(select(ProjectRow).order_by(ProjectRow.name)).all()
            return [_project(row) for row in rows]

    def get_project(self, name: str) -> Project:
        with self._db.read() as session:
            return _project(_project_row(session, name))

    def project_name(self, project_id: ProjectId) -> str:
        """The name of project `project_id` (NotFound if there is none); names never change."""
        with self._db.read() as session:
            row = session.get(ProjectRow, project_id)
            if row is None:
                raise NotFound(f"no project with id {project_id!r}")
            return row.name

    # -- keys -------------------------------------------------------------------------------

    def create_key(
        self,
        name: str,
        role: Role | str,
        project: str = DEFAULT_PROJECT,
        rate_limit_per_minute: int | None = None,
    ) -> CreatedKey:
        """`add_key` with the spec given as arguments (checked here: `InvalidInput`)."""
        return self.add_key(
            KeySpec.of(name=name, role=role, project=project, rate_limit_per_minute=rate_limit_per_minute)
        )

    def add_key(self, spec: KeySpec) -> CreatedKey:
        """A new key for `spec.project`; the secret is in the result and nowhere else."""
        secret = generate_secret()
        with self._db.write() as session:
            project_row = _project_row(session, spec.project)
            row = ApiKeyRow(
                id=new_id("key"),
                project_id=project_row.id,
                name=spec.name,
                role=spec.role.value,
                prefix=display_prefix(secret),
                key_hash=hash_secret(secret),
                rate_limit_per_minute=spec.rate_limit_per_minute,
                created_at=utcnow(),
            )
            session.add(row)
        return CreatedKey(key=_key(row, project_row.name), secret=secret)

    def list_keys(self, project: str | None = None, include_revoked: bool = False) -> list[ApiKey]:
        """Keys of one project, or of every project when `project` is None."""
        with self._db.read() as session:
            query = select(ApiKeyRow, ProjectRow.name).join(ProjectRow).order_by(ApiKeyRow.id)
            if project is not None:
                query = query.where(ApiKeyRow.project_id == _project_row(session, project).id)
            if not include_revoked:
                query = query.where(ApiKeyRow.revoked_at.is_(None))
            return [_key(row, project_name) for row, project_name in session.execute(query)]

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key; revoking twice is a no-op that returns the same key."""
        with self._db.write() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                raise NotFound(f"no API key with id {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            project_name = session.get_one(ProjectRow, row.project_id).name
        self._cache = {h: entry for h, entry in self._cache.items() if entry[0].key_id != key_id}
        return _key(row, project_name)

    def cached_principal(self, secret: str | None) -> Principal | None:
        """The principal for `secret` if verified within the cache window (no I/O), else None."""
        if not secret:
            return None
        cached = self._cache.get(hashlib.sha256(secret.encode()).digest())
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return None

    def authenticate(self, secret: str | None) -> Principal:
        """The principal behind a presented key; raises `Unauthenticated` otherwise."""
        if not secret:
            raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
        cached = self.cached_principal(secret)
        if cached is not None:
            return cached
        key_hash = hash_secret(secret)
        now = time.monotonic()
        with self._db.read() as session:
            found = session.execute(
                select(ApiKeyRow, ProjectRow.name)
                .join(ProjectRow)
                .where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None))
            ).first()
        cache_key = hashlib.sha256(secret.encode()).digest()
        if found is None:
            self._cache.pop(cache_key, None)
            raise Unauthenticated("invalid or revoked API key")
        row, project_name = found
        principal = Principal(
            key_id=ApiKeyId(row.id),
            key_name=row.name,
            project_id=ProjectId(row.project_id),
            project=project_name,
            role=Role(row.role),
            rate_limit_per_minute=row.rate_limit_per_minute,
        )
        if self._cache_seconds > 0:
            self._cache[cache_key] = (principal, now + self._cache_seconds)
        return principal


def _project_row(session: Session, name: str) -> ProjectRow:
    row = session.scalars(select(ProjectRow).where(ProjectRow.name == name)).first()
    if row is None:
        raise NotFound(f"no project named {name!r}")
    return row


def _project(row: ProjectRow) -> Project:
    return Project(id=ProjectId(row.id), name=row.name, created_at=row.created_at)


def _key(row: ApiKeyRow, project_name: str) -> ApiKey:
    return ApiKey(
        id=ApiKeyId(row.id),
        name=row.name,
        role=Role(row.role),
        project_id=ProjectId(row.project_id),
        project=project_name,
        prefix=row.prefix,
        rate_limit_per_minute=row.rate_limit_per_minute,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
