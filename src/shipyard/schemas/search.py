"""Search hits, as `POST /v1/collections/{name}/search` answers and `shipyard search --json` prints them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class SearchHit(BaseModel):
    document_id: str
    chunk_id: str
    score: float
    text: str
    title: str | None
    source: str | None
    heading_path: list[str]
    span: tuple[int, int] = Field(description="[start, end) character offsets of `text` in the document.")
    metadata: dict[str, Any]
    similarity: float | None = Field(
        default=None, description="Cosine similarity of query and chunk (null in lexical mode)."
    )


class SearchResponse(BaseModel):
    results: list[SearchHit]
