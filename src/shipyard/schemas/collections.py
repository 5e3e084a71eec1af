"""A collection, as the API answers and `shipyard collections … --json` prints it (chunking nested)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shipyard.knowledge.chunking import ChunkingConfig
from shipyard.knowledge.collections import Collection


class ChunkingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_tokens: int = Field(
        default=ChunkingConfig.max_tokens, description="Largest chunk, in the embedder's tokens (16-2048)."
    )
    overlap_tokens: int = Field(
        default=ChunkingConfig.overlap_tokens, description="Tokens shared by consecutive chunks (≤ max_tokens/2)."
    )


class CollectionPublic(BaseModel):
    id: str
    name: str
    description: str | None
    chunking: ChunkingSettings
    embedder: str
    dimension: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, collection: Collection) -> CollectionPublic:
        return cls(
            id=collection.id,
            name=collection.name,
            description=collection.description,
            chunking=ChunkingSettings(
                max_tokens=collection.chunking.max_tokens, overlap_tokens=collection.chunking.overlap_tokens
            ),
            embedder=collection.embedder,
            dimension=collection.dimension,
            created_at=collection.created_at,
            updated_at=collection.updated_at,
        )
