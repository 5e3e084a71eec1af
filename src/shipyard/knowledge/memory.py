"""The embedded store's in-memory index of one revision of a collection.

The vectors as one matrix (exact inner-product search, or the HNSW graph of `ann.py` once
attached), a BM25 index over the same chunks, and the documents' filterable fields as numpy
columns: a filter over 100k documents costs a few vectorised comparisons, not a Python loop.
Positions and masks live here and in the embedded adapters only; ports speak chunk ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shipyard.errors import InvalidInput
from shipyard.knowledge.ann import EXACT_BELOW, AnnSlot
from shipyard.knowledge.lexical import LexicalIndex
from shipyard.knowledge.ranking import best_first
from shipyard.knowledge.types import Condition

Scalar = str | int | float | bool
# Positions (in the index) and scores, best first.
PositionHits = tuple[NDArray[np.intp], NDArray[np.float32]]


@dataclass(frozen=True)
class CollectionIndex:
    collection_id: str
    revision: int
    chunk_ids: list[str]
    positions: dict[str, int]
    # Position of each chunk's document in `fields`.
    chunk_documents: NDArray[np.intp]
    vectors: NDArray[np.float32]
    lexical: LexicalIndex
    fields: DocumentFields
    # How long building this index took: decides whether the next one is built in the background.
    build_seconds: float = 0.0
    # The HNSW graph over `vectors` for large collections, attached when its build finishes.
    ann: AnnSlot = field(default_factory=AnnSlot)

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def chunk_mask(self, conditions: list[Condition]) -> NDArray[np.bool_] | None:
        documents = self.fields.mask(conditions)
        return None if documents is None else documents[self.chunk_documents]

    def dense(self, query: NDArray[np.float32], k: int, mask: NDArray[np.bool_] | None = None) -> PositionHits:
        """Top `k` by inner product (cosine: vectors are L2-normalised): from the HNSW graph
        when there is one, else exact."""
        if not len(self):
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32)
        approximate = self.ann.search(query, k, mask)
        if approximate is not None:
            return approximate
        return self.exact(query, k, mask)

    def exact(self, query: NDArray[np.float32], k: int, mask: NDArray[np.bool_] | None = None) -> PositionHits:
        if not len(self):
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32)
        allowed = len(self) if mask is None else int(np.count_nonzero(mask))
        chosen = None
        if mask is None:
            scores = self.vectors @ query
        elif allowed <= EXACT_BELOW:
            # Score only the allowed vectors: a selective filter costs what it allows.
            chosen = np.flatnonzero(mask)
            scores = self.vectors[chosen] @ query
        else:
            scores = np.where(mask, self.vectors @ query, np.float32(-np.inf))
        order = best_first(scores, min(k, allowed))
        return (order if chosen is None else chosen[order]), scores[order]

    def lexical_search(self, query: str, k: int, mask: NDArray[np.bool_] | None = None) -> PositionHits:
        return self.lexical.search_positions(query, k, mask)


class _Column:
    """One field over all documents: raw values, numeric view and string view."""

    def __init__(self, values: Sequence[Any]) -> None:
        self.values = np.empty(len(values), dtype=object)
        self.values[:] = list(values)
        numeric = [v if isinstance(v, int | float) and not isinstance(v, bool) else np.nan for v in values]
        self.numbers = np.asarray(numeric, dtype=np.float64)
        self.is_string = np.asarray([isinstance(v, str) for v in values], dtype=bool)
        self.strings = np.asarray([v if isinstance(v, str) else "" for v in values], dtype=str)

    def equals(self, value: Scalar) -> NDArray[np.bool_]:
        if isinstance(value, bool):
            return np.asarray([v is value for v in self.values], dtype=bool)
        if isinstance(value, int | float):
            return np.asarray(self.numbers == value, dtype=bool)
        return np.asarray(self.is_string & (self.strings == value), dtype=bool)

    def compare(self, operator: str, value: float | str) -> NDArray[np.bool_]:
        if isinstance(value, str):
            left: NDArray[Any] = self.strings
            present = self.is_string
        else:
            left, present = self.numbers, ~np.isnan(self.numbers)
        with np.errstate(invalid="ignore"):
            result = {
                "$gt": lambda: left > value,
                "$gte": lambda: left >= value,
                "$lt": lambda: left < value,
                "$lte": lambda: left <= value,
            }[operator]()
        return np.asarray(result & present, dtype=bool)


class DocumentFields:
    """Filterable fields of a collection's documents, in index order."""

    def __init__(self, documents: Sequence[Mapping[str, Any]]) -> None:
        keys = sorted({key for doc in documents for key in doc})
        self._init(len(documents), {key: [doc.get(key) for doc in documents] for key in keys})

    @classmethod
    def from_columns(cls, count: int, columns: Mapping[str, Sequence[Any]]) -> DocumentFields:
        """Rebuild from `columns()` (a saved index)."""
        fields = cls.__new__(cls)
        fields._init(count, columns)
        return fields

    def _init(self, count: int, columns: Mapping[str, Sequence[Any]]) -> None:
        self.count = count
        self._columns = {key: _Column(values) for key, values in sorted(columns.items())}

    def columns(self) -> dict[str, list[Any]]:
        """Every field's values in document order (JSON-able: strings, numbers, booleans, None)."""
        return {key: column.values.tolist() for key, column in self._columns.items()}

    @property
    def names(self) -> list[str]:
        return list(self._columns)

    def mask(self, conditions: Sequence[Condition]) -> NDArray[np.bool_] | None:
        """Which documents pass every condition; None when there are no conditions."""
        if not conditions:
            return None
        result = np.ones(self.count, dtype=bool)
        for condition in conditions:
            column = self._columns.get(condition.field)
            if column is None:
                if self.count == 0:
                    return np.zeros(0, dtype=bool)
                known = ", ".join(self.names)
                raise InvalidInput(f"unknown filter field {condition.field!r}; fields in this collection: {known}")
            result &= _evaluate(column, condition)
        return result


def _evaluate(column: _Column, condition: Condition) -> NDArray[np.bool_]:
    operator, value = condition.operator, condition.value
    if operator == "$eq":
        return column.equals(value)
    if operator == "$ne":
        return ~column.equals(value)
    if operator in ("$in", "$nin"):
        hit = np.zeros(len(column.values), dtype=bool)
        for item in value:
            hit |= column.equals(item)
        return hit if operator == "$in" else ~hit
    return column.compare(operator, value)
