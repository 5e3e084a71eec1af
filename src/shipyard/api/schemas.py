"""Request and response bodies of the HTTP API (separate from domain objects and ORM rows)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# Shared with CLI `--json`, so defined in shipyard.schemas; re-exported for the routes.
from shipyard.jobs.service import MAX_ATTEMPTS, MAX_DEDUPE_KEY_CHARS
from shipyard.knowledge.collections import MAX_EMBEDDER_URL_CHARS
from shipyard.limits import MAX_NOTE_CHARS
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
    name: str = Field(min_length=1, max_length=64, examples=["acme"])


class JobCreate(BaseModel):
    """The bounds are `JobService.enqueue`'s (one check for every caller, a 400); shown here only."""

    model_config = ConfigDict(extra="forbid")
    kind: str
    payload: dict[str, Any] = Field(default_factory=dict)
    dedupe_key: str | None = Field(default=None, json_schema_extra={"maxLength": MAX_DEDUPE_KEY_CHARS})
    max_attempts: int | None = Field(default=None, json_schema_extra={"minimum": 1, "maximum": MAX_ATTEMPTS})


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, examples=["handbook"])
    description: str | None = Field(default=None, json_schema_extra={"maxLength": MAX_NOTE_CHARS})
    chunking: ChunkingSettings | None = None
    embedder: str | None = Field(
        default=None,
        description="Embedder URL; default SHIPYARD_EMBEDDER_URL.",
        json_schema_extra={"maxLength": MAX_EMBEDDER_URL_CHARS},
    )


MetadataValue = str | int | float | bool | None


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=512, description="Your id for the document; re-ingesting it replaces it.")
    text: str = Field(description="The document's text (markdown headings become sections).")
    title: str | None = Field(default=None, max_length=2000)
    source: str | None = Field(default=None, max_length=2000, description="Where it came from (a URL, a path).")
    metadata: dict[str, MetadataValue] = Field(default_factory=dict, description="Flat fields for search filters.")
    markdown: bool = Field(default=True, description="Split sections at markdown headings.")


class IngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[DocumentIn] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list, description="http(s) URLs fetched by the job (SSRF-checked).")
    text_field: str | None = Field(
        default=None, max_length=200, description="For .csv/.json/.jsonl sources: the field holding the text."
    )
