"""The knowledge domain's vocabulary, shared by its ports, adapters and services.

A collection (what a search is scoped to, with the revision its indexes are checked against),
the store-agnostic filter expression (a list of `Condition`s from `filters.parse_filter`), and
hits: chunk ids with scores, best first. No ORM rows, sessions, index objects or masks: every
adapter translates these into its backend's own terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shipyard.errors import NotFound
from shipyard.ids import ProjectId
from shipyard.knowledge.chunking import ChunkingConfig

# One L2-normalised embedding (float32): what embedders return per text and vector stores hold.
Vector = NDArray[np.float32]
# (chunk id, score) pairs, best first: what every retriever (vector store, lexical index) returns.
Hits = list[tuple[str, float]]

BUILTIN_FIELDS = ("document_id", "title", "source")
RANGE_OPERATORS = ("$gt", "$gte", "$lt", "$lte")
OPERATORS = ("$eq", "$ne", "$in", "$nin", *RANGE_OPERATORS)


class CollectionNotFound(NotFound):
    code = "collection_not_found"


@dataclass(frozen=True)
class Collection:
    id: str
    project_id: ProjectId
    name: str
    description: str | None
    chunking: ChunkingConfig
    embedder: str
    dimension: int | None
    # Bumped by every document change; search indexes remember the revision they were built from.
    revision: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Condition:
    """One clause of a filter; a filter is a list of them, ANDed.

    `field` is a metadata key or one of `BUILTIN_FIELDS`; `operator` one of `OPERATORS`.
    `$eq`/`$ne` take a string, number or boolean; `$in`/`$nin` a non-empty list of them; the
    ranges a number (compared with numbers only) or a string (compared with strings only, by
    code point). Booleans equal only booleans, never 0 or 1. `$ne` and `$nin` also match
    documents without the field.
    """

    field: str
    operator: str
    value: Any


def indexed_text(title: str | None, heading_path: Sequence[str], text: str) -> str:
    """What is embedded and BM25-indexed for a chunk: its text in the context a reader has."""
    context = [part for part in (title, " > ".join(heading_path)) if part]
    return "\n".join([*context, text])
