"""A document, as the API answers and `shipyard documents … --json` prints it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shipyard.knowledge.documents import Document


class DocumentPublic(BaseModel):
    id: str = Field(description="The document's external id.")
    collection: str
    title: str | None
    source: str | None
    content_hash: str
    metadata: dict[str, Any]
    chars: int
    chunk_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, document: Document) -> DocumentPublic:
        return cls(
            id=document.external_id,
            collection=document.collection,
            title=document.title,
            source=document.source,
            content_hash=document.content_hash,
            metadata=document.metadata,
            chars=document.chars,
            chunk_count=document.chunk_count,
            created_at=document.created_at,
            updated_at=document.updated_at,
        )
