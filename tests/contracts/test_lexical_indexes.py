"""The `LexicalIndex` contract: every adapter passes it against its real backend.

A new adapter (PostgreSQL full-text search, Qdrant sparse vectors, ...) adds one entry to
`harness.LEXICAL_INDEXES`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import InvalidInput
from shipyard.knowledge.filters import parse_filter
from shipyard.knowledge.ports import LexicalIndex
from tests.contracts.harness import FILTER_CASES, FILTER_DOCS, LEXICAL_INDEXES, Doc, MetadataStore, database_for

DOCS = [
    Doc("twice", "The checkout page and the checkout button."),
    Doc("once", "The checkout page."),
    Doc("unrelated", "Billing exports run nightly."),
]


@pytest.fixture(params=sorted(LEXICAL_INDEXES))
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LexicalIndex, MetadataStore]]:
    adapter = LEXICAL_INDEXES[request.param]
    with database_for(adapter.database, tmp_path) as database:
        yield adapter.build(database), MetadataStore(database)


def test_matching_chunks_best_first(setup: tuple[LexicalIndex, MetadataStore]) -> None:
    lexical, store = setup
    collection = store.write(store.collection(), DOCS)
    hits = lexical.search(collection, "checkout", 10, [])
    assert store.documents(hits) == ["twice", "once"]  # only chunks sharing a term
    assert hits[0][1] > hits[1][1] > 0
    assert lexical.search(collection, "nothing like it", 10, []) == []


def test_k_bounds_the_hits(setup: tuple[LexicalIndex, MetadataStore]) -> None:
    lexical, store = setup
    collection = store.write(store.collection(), DOCS)
    assert store.documents(lexical.search(collection, "checkout", 1, [])) == ["twice"]


@pytest.mark.parametrize(("spec", "expected"), FILTER_CASES, ids=[str(spec) for spec, _ in FILTER_CASES])
def test_filters(setup: tuple[LexicalIndex, MetadataStore], spec: dict[str, Any], expected: set[str]) -> None:
    lexical, store = setup
    collection = store.write(store.collection(), [replace(doc, text=f"A note about {doc.id}.") for doc in FILTER_DOCS])
    hits = lexical.search(collection, "note", 100, parse_filter(spec))
    assert sorted(store.documents(hits)) == sorted(expected)


def test_a_field_no_document_has_is_an_error(setup: tuple[LexicalIndex, MetadataStore]) -> None:
    lexical, store = setup
    collection = store.write(store.collection(), FILTER_DOCS)
    with pytest.raises(InvalidInput, match="unknown filter field 'teem'"):
        lexical.search(collection, "note", 10, parse_filter({"teem": "sre"}))


def test_an_empty_collection_has_no_hits_even_filtered(setup: tuple[LexicalIndex, MetadataStore]) -> None:
    lexical, store = setup
    collection = store.collection()
    assert lexical.search(collection, "checkout", 10, []) == []
    assert lexical.search(collection, "checkout", 10, parse_filter({"team": "sre"})) == []


def test_a_selective_filter_still_returns_min_k_allowed(setup: tuple[LexicalIndex, MetadataStore]) -> None:
    lexical, store = setup
    docs = [Doc(f"d{n}", f"Checkout note {n}." + " checkout" * (n % 5), metadata={"rare": n in (5, 250)})
            for n in range(300)]  # fmt: skip
    collection = store.write(store.collection(), docs)
    hits = lexical.search(collection, "checkout", 5, parse_filter({"rare": True}))
    assert sorted(store.documents(hits)) == ["d250", "d5"]


def test_collections_are_isolated(setup: tuple[LexicalIndex, MetadataStore]) -> None:
    lexical, store = setup
    first = store.write(store.collection("first"), DOCS[:1])
    second = store.write(store.collection("second"), DOCS[1:])
    assert store.documents(lexical.search(first, "checkout", 10, [])) == ["twice"]
    assert store.documents(lexical.search(second, "checkout", 10, [])) == ["once"]


def test_stays_in_step_with_the_store(setup: tuple[LexicalIndex, MetadataStore]) -> None:
    lexical, store = setup
    collection = store.write(store.collection(), DOCS[1:])
    assert store.documents(lexical.search(collection, "checkout", 10, [])) == ["once"]
    collection = store.write(collection, DOCS[:1])
    assert store.documents(lexical.search(collection, "checkout", 10, [])) == ["twice", "once"]
    collection = store.delete(collection, "twice")
    assert store.documents(lexical.search(collection, "checkout", 10, [])) == ["once"]


def test_a_dropped_collection_is_forgotten(setup: tuple[LexicalIndex, MetadataStore]) -> None:
    lexical, store = setup
    collection = store.write(store.collection(), DOCS)
    assert lexical.search(collection, "checkout", 10, []) != []
    store.delete_collection(collection)
    lexical.drop(collection)
    lexical.drop(collection)
    assert lexical.search(collection, "checkout", 10, []) == []
