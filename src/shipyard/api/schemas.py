"""Request and response bodies of the HTTP API (separate from domain objects and ORM rows)."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# Shared with CLI `--json`, so defined in shipyard.schemas; re-exported for the routes.
from shipyard.jobs.service import MAX_ATTEMPTS, MAX_DEDUPE_KEY_CHARS
from shipyard.knowledge.collections import MAX_EMBEDDER_URL_CHARS
from shipyard.knowledge.ingest_jobs import IngestRequest as IngestRequest
from shipyard.limits import MAX_NOTE_CHARS
from shipyard.names import Named
from shipyard.schemas.collections import ChunkingSettings as ChunkingSettings
from shipyard.schemas.collections import CollectionPublic as CollectionPublic

T = TypeVar("T")


class PageOf(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null at the end.")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


# Documented on every router (routes are added to the app directly, so app-level
# `responses` would not reach them).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Named("project")] = Field(examples=["acme"])


class JobCreate(BaseModel):
    """The bounds are `JobService.enqueue`'s (one check for every caller, a 400); shown here only."""

    model_config = ConfigDict(extra="forbid")
    kind: str
    payload: dict[str, Any] = Field(default_factory=dict)
    dedupe_key: str | None = Field(default=None, json_schema_extra={"maxLength": MAX_DEDUPE_KEY_CHARS})
    max_attempts: int | None = Field(default=None, json_schema_extra={"minimum": 1, "maximum": MAX_ATTEMPTS})


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Named("collection")] = Field(examples=["handbook"])
    description: str | None = Field(default=None, json_schema_extra={"maxLength": MAX_NOTE_CHARS})
    chunking: ChunkingSettings | None = None
    embedder: str | None = Field(
        default=None,
        description="Embedder URL; default SHIPYARD_EMBEDDER_URL.",
        json_schema_extra={"maxLength": MAX_EMBEDDER_URL_CHARS},
    )
