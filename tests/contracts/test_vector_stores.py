"""The `VectorStore` contract: every adapter passes it against its real backend.

A new adapter adds one entry to `harness.VECTOR_STORES`; if it needs a case changed to pass, the
port was underspecified — fix the port's docstring and every adapter together.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shipyard.errors import InvalidInput
from shipyard.knowledge.filters import parse_filter
from shipyard.knowledge.ports import VectorStore
from tests.contracts.harness import FILTER_CASES, FILTER_DOCS, VECTOR_STORES, Doc, MetadataStore, database_for, unit

QUERY = unit([1.0])
# Angles to the query: cosine similarities 0.995, 0.878, 0.540, -0.416, -0.990.
ANGLES = {"near": 0.1, "close": 0.5, "mid": 1.0, "far": 2.0, "opposite": 3.0}


def _at(angle: float) -> Doc:
    return Doc(_name(angle), vector=unit([math.cos(angle), math.sin(angle)]))


def _name(angle: float) -> str:
    return next(name for name, value in ANGLES.items() if value == angle)


@pytest.fixture(params=sorted(VECTOR_STORES))
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[VectorStore, MetadataStore]]:
    adapter = VECTOR_STORES[request.param]
    with database_for(adapter.database, tmp_path) as database:
        store = adapter.build(database)
        yield store, MetadataStore(database, store)


def test_nearest_first_with_cosine_similarities(setup: tuple[VectorStore, MetadataStore]) -> None:
    vectors, store = setup
    collection = store.write(store.collection(), [_at(angle) for angle in reversed(ANGLES.values())])
    hits = vectors.search(collection, QUERY, 10, [])
    assert store.documents(hits) == list(ANGLES)
    assert [score for _, score in hits] == pytest.approx([math.cos(a) for a in ANGLES.values()], abs=1e-4)


@pytest.mark.parametrize("k", [1, 3, 5, 100])
def test_k_bounds_the_hits(setup: tuple[VectorStore, MetadataStore], k: int) -> None:
    vectors, store = setup
    collection = store.write(store.collection(), [_at(angle) for angle in ANGLES.values()])
    assert store.documents(vectors.search(collection, QUERY, k, [])) == list(ANGLES)[:k]


@pytest.mark.parametrize(("spec", "expected"), FILTER_CASES, ids=[str(spec) for spec, _ in FILTER_CASES])
def test_filters(setup: tuple[VectorStore, MetadataStore], spec: dict[str, Any], expected: set[str]) -> None:
    vectors, store = setup
    collection = store.write(store.collection(), FILTER_DOCS)
    hits = vectors.search(collection, QUERY, 100, parse_filter(spec))
    assert sorted(store.documents(hits)) == sorted(expected)


def test_a_field_no_document_has_is_an_error(setup: tuple[VectorStore, MetadataStore]) -> None:
    vectors, store = setup
    collection = store.write(store.collection(), FILTER_DOCS)
    with pytest.raises(InvalidInput, match="unknown filter field 'teem'"):
        vectors.search(collection, QUERY, 10, parse_filter({"teem": "sre"}))


def test_an_empty_collection_has_no_hits_even_filtered(setup: tuple[VectorStore, MetadataStore]) -> None:
    vectors, store = setup
    collection = store.collection()
    assert vectors.search(collection, QUERY, 10, []) == []
    assert vectors.search(collection, QUERY, 10, parse_filter({"team": "sre"})) == []


def test_a_selective_filter_still_returns_min_k_allowed(setup: tuple[VectorStore, MetadataStore]) -> None:
    vectors, store = setup
    rng = np.random.default_rng(5)
    docs = []
    for n in range(300):
        rare = n in (5, 250)
        # The two rare chunks point away from the query: no oversampled ANN search reaches them.
        direction = [-1.0, *rng.normal(0, 0.1, 3)] if rare else [1.0, *rng.normal(0, 0.5, 3)]
        docs.append(Doc(f"d{n}", vector=unit(direction), metadata={"rare": rare, "group": n % 10}))
    collection = store.write(store.collection(), docs)
    hits = vectors.search(collection, QUERY, 5, parse_filter({"rare": True}))
    assert sorted(store.documents(hits)) == ["d250", "d5"]
    hits = vectors.search(collection, QUERY, 5, parse_filter({"group": 3}))
    similarity = {doc.id: float(doc.vector @ QUERY) for doc in docs if doc.metadata["group"] == 3}
    assert store.documents(hits) == sorted(similarity, key=lambda d: -similarity[d])[:5]


def test_collections_are_isolated(setup: tuple[VectorStore, MetadataStore]) -> None:
    vectors, store = setup
    first = store.write(store.collection("first"), [_at(ANGLES["near"]), _at(ANGLES["far"])])
    second = store.write(store.collection("second"), [_at(ANGLES["close"]), _at(ANGLES["mid"])])
    assert store.documents(vectors.search(first, QUERY, 10, [])) == ["near", "far"]
    assert store.documents(vectors.search(second, QUERY, 10, [])) == ["close", "mid"]


def test_stays_in_step_with_the_store(setup: tuple[VectorStore, MetadataStore]) -> None:
    vectors, store = setup
    collection = store.write(store.collection(), [_at(ANGLES["mid"])])
    assert store.documents(vectors.search(collection, QUERY, 10, [])) == ["mid"]
    collection = store.write(collection, [_at(ANGLES["near"])])
    assert store.documents(vectors.search(collection, QUERY, 10, [])) == ["near", "mid"]
    # The process died after the chunks committed, before the store was told: nothing is lost.
    collection = store.write(collection, [_at(ANGLES["close"])], tell_store=False)
    assert store.documents(vectors.search(collection, QUERY, 10, [])) == ["near", "close", "mid"]
    collection = store.delete(collection, "near")
    assert store.documents(vectors.search(collection, QUERY, 10, [])) == ["close", "mid"]


def test_a_dropped_collection_is_forgotten(setup: tuple[VectorStore, MetadataStore]) -> None:
    vectors, store = setup
    collection = store.write(store.collection(), [_at(ANGLES["near"])])
    assert vectors.search(collection, QUERY, 10, []) != []
    store.delete_collection(collection)
    vectors.drop(collection)
    vectors.drop(collection)  # twice, or never indexed: no error
    assert vectors.search(collection, QUERY, 10, []) == []
    other = store.write(store.collection("other"), [_at(ANGLES["far"])])
    assert store.documents(vectors.search(other, QUERY, 10, [])) == ["far"]
