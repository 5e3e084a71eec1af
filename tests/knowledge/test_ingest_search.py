"""Ingestion and search through the domain services, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from shipyard.errors import InvalidInput
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.knowledge.collections import Collection
from shipyard.knowledge.documents import DocumentInput
from shipyard.knowledge.filters import parse_filter
from shipyard.platform import Platform, build_platform
from shipyard.store import ChunkRow, DocumentRow, upgrade
from tests.conftest import make_settings, wait_until

HANDBOOK = """# Handbook

## Vacation

Employees get 25 days of paid vacation per year. Unused days carry over until March.

## Expenses

Submit receipts within 30 days. Travel is booked through the travel desk.
"""

DOCS = [
    DocumentInput("handbook", HANDBOOK, title="Employee handbook", metadata={"team": "hr", "year": 2024}),
    DocumentInput(
        "oncall",
        "The on-call engineer answers pages within five minutes and escalates database outages.",
        title="On-call guide",
        metadata={"team": "sre", "year": 2025},
    ),
    DocumentInput(
        "security",
        "Rotate API keys every ninety days. Never paste secrets into chat.",
        title="Security policy",
        metadata={"team": "sre", "year": 2023},
    ),
]


def _collection(services: Platform, name: str = "kb") -> Collection:
    return services.collections.create(DEFAULT_PROJECT_ID, name)


def _fresh(services: Platform, collection: Collection) -> Collection:
    return services.collections.get(DEFAULT_PROJECT_ID, collection.name)


def _counts(services: Platform, collection: Collection) -> tuple[int, int]:
    with services.database.read() as session:
        docs = session.scalar(select(func.count()).where(DocumentRow.collection_id == collection.id))
        chunks = session.scalar(select(func.count()).where(ChunkRow.collection_id == collection.id))
    return int(docs or 0), int(chunks or 0)


def test_ingest_then_search_every_mode(services: Platform) -> None:
    collection = _collection(services)
    outcomes = services.ingester.ingest(collection, DOCS)
    assert [(o.document_id, o.status) for o in outcomes] == [
        ("handbook", "created"),
        ("oncall", "created"),
        ("security", "created"),
    ]
    collection = _fresh(services, collection)
    runs = [("hybrid", "rrf"), ("hybrid", "relative"), ("hybrid", "dbsf"), ("dense", "rrf"), ("lexical", "rrf")]
    for mode, fusion in runs:
        results = services.search.search(
            collection,
            "how many vacation days do I get?",
            mode=mode,  # type: ignore[arg-type]
            fusion=fusion,  # type: ignore[arg-type]
        )
        top = results[0]
        assert top.document_id == "handbook", (mode, results)
        assert top.heading_path == ["Handbook", "Vacation"]
        assert HANDBOOK[top.span[0] : top.span[1]] == top.text
        assert "25 days" in top.text
        assert top.metadata == {"team": "hr", "year": 2024} and top.title == "Employee handbook"


def test_reingest_is_a_noop_and_a_change_replaces_chunks(services: Platform) -> None:
    collection = _collection(services)
    services.ingester.ingest(collection, DOCS)
    before = _counts(services, collection)
    again = services.ingester.ingest(collection, DOCS)
    assert {o.status for o in again} == {"unchanged"}
    assert _counts(services, collection) == before

    changed = DocumentInput("oncall", "Pager duty rotates weekly; the secondary covers holidays.", title="On-call")
    [outcome] = services.ingester.ingest(collection, [changed])
    assert outcome.status == "updated"
    assert _counts(services, collection) == before  # one chunk replaced by one chunk
    collection = _fresh(services, collection)
    hits = services.search.search(collection, "who answers pages within five minutes", mode="lexical")
    assert all("five minutes" not in hit.text for hit in hits)
    assert services.search.search(collection, "pager rotation weekly", top_k=1)[0].document_id == "oncall"


def test_embeddings_are_reused_for_unchanged_chunks(services: Platform) -> None:
    calls: list[int] = []
    embedder = services.embedder
    original = embedder.embed

    class Counting:
        name = embedder.name
        dimension = embedder.dimension
        declared_dimension = embedder.declared_dimension

        def embed(self, texts: list[str]) -> object:
            calls.append(len(texts))
            return original(texts)

    services.embedders._built[services.embedders.default_url] = Counting()  # type: ignore[assignment]
    collection = _collection(services)
    services.ingester.ingest(collection, [DOCS[0]])
    first = sum(calls)
    assert first >= 2  # the handbook has two sections
    edited = DocumentInput("handbook", HANDBOOK + "\n## Parking\n\nParking is free.\n", title="Employee handbook")
    services.ingester.ingest(collection, [edited])
    # Only the new section is embedded; the unchanged sections' vectors come from the store.
    assert sum(calls) - first == 1


def test_filters(services: Platform) -> None:
    collection = _collection(services)
    services.ingester.ingest(collection, DOCS)
    collection = _fresh(services, collection)
    search = services.search.search

    def ids(**kw: object) -> set[str]:
        return {r.document_id for r in search(collection, "policy guide handbook days", mode="dense", **kw)}  # type: ignore[arg-type]

    assert ids(filter={"team": "sre"}) == {"oncall", "security"}
    assert ids(filter={"team": {"$in": ["hr"]}}) == {"handbook"}
    assert ids(filter={"year": {"$gte": 2024, "$lte": 2025}}) == {"handbook", "oncall"}
    assert ids(filter={"team": "sre", "year": {"$lt": 2025}}) == {"security"}
    assert ids(filter={"document_id": {"$nin": ["handbook", "oncall"]}}) == {"security"}
    assert ids(filter={"team": {"$ne": "sre"}}) == {"handbook"}
    assert ids(filter={"team": "nobody"}) == set()
    with pytest.raises(InvalidInput, match="unknown filter field 'teem'; fields in this collection: document_id"):
        ids(filter={"teem": "sre"})
    with pytest.raises(InvalidInput, match=r"unknown filter operator '\$regex'"):
        ids(filter={"team": {"$regex": "s.*"}})
    with pytest.raises(InvalidInput, match=r"\$in on 'team' needs a non-empty list"):
        ids(filter={"team": {"$in": "sre"}})


def test_bad_documents_fail_alone(services: Platform) -> None:
    collection = _collection(services)
    outcomes = services.ingester.ingest(
        collection,
        [
            DocumentInput("empty", "   \n  "),
            DOCS[1],
            DocumentInput("oncall", "a second document with the same id"),
        ],
    )
    assert [(o.document_id, o.status, o.error) for o in outcomes] == [
        ("empty", "failed", "the document has no text"),
        ("oncall", "created", None),
        ("oncall", "failed", "duplicate document id in this request"),
    ]
    assert _counts(services, collection) == (1, 1)
    with pytest.raises(InvalidInput, match="metadata field 'tags' is a list"):
        DocumentInput("x", "text", metadata={"tags": ["a"]})


def test_delete_document_and_collection_remove_chunks(services: Platform) -> None:
    collection = _collection(services)
    services.ingester.ingest(collection, DOCS)
    services.documents.delete(collection, "handbook")
    assert _counts(services, collection) == (2, 2)
    collection = _fresh(services, collection)
    assert all(r.document_id != "handbook" for r in services.search.search(collection, "vacation days"))
    services.collections.delete(DEFAULT_PROJECT_ID, "kb")
    assert _counts(services, collection) == (0, 0)


def test_search_arguments_are_checked(services: Platform) -> None:
    collection = _collection(services)
    for kwargs, message in [
        ({"top_k": 0}, "top_k must be between 1 and 100, got 0"),
        ({"top_k": 101}, "top_k must be between 1 and 100, got 101"),
        ({"mode": "fuzzy"}, "mode must be one of hybrid, dense, lexical, got 'fuzzy'"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            services.search.search(collection, "q", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="query must not be empty"):
        services.search.search(collection, "  ")
    assert services.search.search(collection, "anything") == []


def test_a_slow_to_build_index_is_rebuilt_in_the_background(tmp_path: Path, database_url: str, vector_url: str) -> None:
    # Every index counts as slow to build: after a change, searches keep using the previous
    # revision until the background rebuild lands — never a stall, never a half state.
    settings = make_settings(tmp_path, database_url, vector_url=vector_url, index_sync_rebuild_seconds=0)
    services = build_platform(settings)
    upgrade(services.database)
    try:
        collection = _collection(services)
        services.ingester.ingest(collection, DOCS[:2])
        search = services.search.search

        def ids(query: str) -> list[str]:
            fresh = services.collections.get(DEFAULT_PROJECT_ID, "kb")
            return [r.document_id for r in search(fresh, query, mode="lexical")]

        assert ids("rotate API keys") == []  # builds the first index (nothing to fall back on)
        services.ingester.ingest(collection, [DOCS[2]])
        assert ids("rotate API keys") == []  # answered from the previous revision
        wait_until(lambda: ids("rotate API keys") == ["security"])
        services.documents.delete(collection, "security")
        assert ids("rotate API keys") == []  # deleted chunks vanish at once, stale index or not
    finally:
        services.close()


def test_an_ingest_job_for_a_deleted_collection_fails_for_good_and_its_items_are_cleaned(services: Platform) -> None:
    from shipyard.jobs import JobStatus
    from shipyard.knowledge.ingest_jobs import IngestItem, delete_finished_items, enqueue_ingest

    collection = _collection(services)
    job = enqueue_ingest(services.jobs, collection, [IngestItem.of_document(d) for d in DOCS])
    services.collections.delete(DEFAULT_PROJECT_ID, "kb")
    worker = services.new_worker()
    worker.start()
    try:
        wait_until(lambda: services.jobs.get(DEFAULT_PROJECT_ID, job.id).status is JobStatus.FAILED, timeout=30)
    finally:
        worker.stop()
    failed = services.jobs.get(DEFAULT_PROJECT_ID, job.id)
    assert failed.attempts == 1 and "collection 'kb' no longer exists" in (failed.error or "")
    assert delete_finished_items(services.database) == len(DOCS)
    assert delete_finished_items(services.database) == 0


def test_large_collections_are_searched_through_an_hnsw_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.knowledge.filters import parse_filter

    monkeypatch.setattr("shipyard.knowledge.ann.EXACT_BELOW", 10)  # so a filter goes through the graph
    services = build_platform(make_settings(tmp_path, f"sqlite:///{tmp_path / 'ann.db'}", ann_min_chunks=100))
    upgrade(services.database)
    try:
        collection = _collection(services)
        topics = ["checkout", "login", "search", "billing", "export", "upload", "email"]
        services.ingester.ingest(
            collection,
            [
                DocumentInput(f"t{n}", f"Ticket {n}: {topics[n % 7]} fails for customers on plan {n % 5}.",
                              metadata={"plan": n % 5})
                for n in range(300)
            ],
        )  # fmt: skip
        fresh = _fresh(services, collection)
        index = services.search.indexes.get(fresh)
        assert len(index) == 300
        wait_until(lambda: index.ann.graph is not None, timeout=30)  # built in the background
        mask = index.chunk_mask(parse_filter({"plan": 3}))
        assert mask is not None
        for query in ("checkout fails", "cannot log in", "billing problem on plan 2", "export broken"):
            vector = services.embedder.embed([query])[0]
            approximate, _ = index.dense(vector, 10)
            exact, _ = index.exact(vector, 10)
            assert len(set(approximate.tolist()) & set(exact.tolist())) >= 9
            filtered, _ = index.dense(vector, 10, mask)
            assert len(filtered) == 10 and all(mask[p] for p in filtered)
            assert len(set(filtered.tolist()) & set(index.exact(vector, 10, mask)[0].tolist())) >= 9
        hits = services.search.search(fresh, "checkout fails", top_k=5, mode="dense", filter={"plan": 3})
        assert len(hits) == 5 and all(h.metadata == {"plan": 3} for h in hits)
    finally:
        services.close()


def test_a_saved_index_is_loaded_after_a_restart_not_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.knowledge.index import IndexCache
    from shipyard.knowledge.index_files import IndexFiles

    services = build_platform(make_settings(tmp_path, f"sqlite:///{tmp_path / 'saved.db'}"))
    upgrade(services.database)
    try:
        collection = _collection(services)
        docs = [DocumentInput(f"n{n}", f"Note {n} about {['backups', 'alerts', 'billing'][n % 3]}.",
                              metadata={"n": n}) for n in range(90)]  # fmt: skip
        services.ingester.ingest(collection, docs)
        fresh = _fresh(services, collection)
        files = IndexFiles(services.settings.home / "indexes")  # where the service's drop hook looks
        first = IndexCache(services.database, ann_min_vectors=50, files=files, save_after_seconds=0)
        built = first.get(fresh)
        saved = files.root / fresh.id / f"r{fresh.revision:012d}"
        wait_until(lambda: (saved / "meta.json").exists() and built.ann.graph is not None, timeout=30)
        files.save_graph(built)
        assert (saved / "hnsw.faiss").exists()

        def rebuilt(*args: object, **kwargs: object) -> None:
            raise AssertionError("a saved revision must be loaded, not rebuilt")

        monkeypatch.setattr("shipyard.knowledge.index.build_index", rebuilt)
        loaded = IndexCache(services.database, ann_min_vectors=50, files=files).get(fresh)  # "after a restart"
        assert loaded.chunk_ids == built.chunk_ids and loaded.ann.graph is not None
        vector = services.embedder.embed(["billing"])[0]
        assert loaded.dense(vector, 5)[0].tolist() == built.dense(vector, 5)[0].tolist()
        assert loaded.lexical_search("billing", 5)[0].tolist() == built.lexical_search("billing", 5)[0].tolist()
        condition = parse_filter({"n": {"$lt": 10}})
        assert np.array_equal(loaded.chunk_mask(condition), built.chunk_mask(condition))  # type: ignore[arg-type]

        monkeypatch.undo()
        (saved / "lexical" / "params.index.json").write_text("{broken")  # a damaged cache is rebuilt, not fatal
        assert files.load(fresh.id, fresh.revision, load_vectors=True) is None
        assert len(IndexCache(services.database, files=files).get(fresh)) == 90
        services.ingester.ingest(collection, [DocumentInput("extra", "A new note about backups.")])
        newer = _fresh(services, collection)
        cache = IndexCache(services.database, ann_min_vectors=50, files=files, save_after_seconds=0)
        assert len(cache.get(newer)) == 91
        wait_until(lambda: [p.name for p in (files.root / fresh.id).glob("r*")] == [f"r{newer.revision:012d}"])
        assert (files.root / fresh.id).exists()
        services.collections.delete(DEFAULT_PROJECT_ID, "kb")
        assert not (files.root / fresh.id).exists()
    finally:
        services.close()
