"""Search indexes of a collection, derived from the store and rebuilt when it changes.

The store holds every chunk with its embedding; an index here is a cache of one revision of a
collection: the vectors as one matrix (exact inner-product search), a BM25 index over the same
chunks, and the documents' filterable fields. Every document change bumps the collection's
revision in the same transaction, so any process (API replicas, workers, the CLI) sees that its
index is stale with the lookup it does anyway, and rebuilds it from one consistent snapshot.
A search therefore sees one committed state of the collection — never half a document.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import numpy as np
from sqlalchemy import literal, select

from shipyard.knowledge.ann import attach_in_background, build_graph
from shipyard.knowledge.index_files import IndexFiles
from shipyard.knowledge.lexical import LexicalIndex
from shipyard.knowledge.memory import CollectionIndex, DocumentFields
from shipyard.knowledge.types import Collection, indexed_text
from shipyard.store import ChunkRow, CollectionRow, Database, DocumentRow

__all__ = ["CollectionIndex", "IndexCache", "build_index"]


def build_index(database: Database, collection_id: str, *, load_vectors: bool = True) -> CollectionIndex:
    """Read one consistent snapshot of the collection and index it (vectors too, unless a
    vector store outside the process answers dense queries)."""
    started = time.perf_counter()
    with database.read() as session:
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot for the three reads below (READ COMMITTED would take one per statement).
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        revision = session.scalar(select(CollectionRow.revision).where(CollectionRow.id == collection_id)) or 0
        documents = session.execute(
            select(
                DocumentRow.id, DocumentRow.external_id, DocumentRow.title, DocumentRow.source, DocumentRow.metadata_
            )
            .where(DocumentRow.collection_id == collection_id)
            .order_by(DocumentRow.id)
        ).all()
        embedding = ChunkRow.embedding if load_vectors else literal(b"").label("embedding")
        chunks = session.execute(
            select(ChunkRow.id, ChunkRow.document_id, ChunkRow.heading_path, ChunkRow.text, embedding)
            .where(ChunkRow.collection_id == collection_id)
            .order_by(ChunkRow.document_id, ChunkRow.position)
        ).all()
    positions = {row.id: i for i, row in enumerate(documents)}
    titles = [row.title for row in documents]
    fields: list[dict[str, Any]] = [
        {**(row.metadata_ or {}), "document_id": row.external_id, "title": row.title, "source": row.source}
        for row in documents
    ]
    chunk_documents = np.fromiter((positions[c.document_id] for c in chunks), dtype=np.intp, count=len(chunks))
    if chunks and load_vectors:
        vectors = np.frombuffer(b"".join(c.embedding for c in chunks), dtype="<f4").reshape(len(chunks), -1)
    else:
        vectors = np.empty((0, 0), dtype=np.float32)
    texts = [indexed_text(titles[positions[c.document_id]], c.heading_path, c.text) for c in chunks]
    chunk_ids = [c.id for c in chunks]
    return CollectionIndex(
        collection_id=collection_id,
        revision=int(revision),
        chunk_ids=chunk_ids,
        positions={chunk_id: i for i, chunk_id in enumerate(chunk_ids)},
        chunk_documents=chunk_documents,
        vectors=np.ascontiguousarray(vectors, dtype=np.float32),
        lexical=LexicalIndex.build(chunk_ids, texts),
        fields=DocumentFields(fields),
        build_seconds=time.perf_counter() - started,
    )


class IndexCache:
    """The latest index of recently searched collections, rebuilt once per revision.

    After a change, a collection whose index builds quickly (under `sync_rebuild_seconds`) is
    rebuilt before the search answers: you read your writes. A large one keeps answering from
    its previous revision while one background thread rebuilds it — a search never stalls for
    the rebuild and still sees one consistent state; new chunks appear when the rebuild is done,
    while deleted or replaced chunks disappear at once (results are read back from the store).
    """

    def __init__(
        self,
        database: Database,
        *,
        max_collections: int = 16,
        load_vectors: bool = True,
        sync_rebuild_seconds: float = 2.0,
        ann_min_vectors: int = 20_000,
        files: IndexFiles | None = None,
        save_after_seconds: float = 1.0,
    ) -> None:
        self._db = database
        self._files = files
        self._save_after_seconds = save_after_seconds
        self._ann_min_vectors = ann_min_vectors
        self._load_vectors = load_vectors
        self._max = max_collections
        self._sync_seconds = sync_rebuild_seconds
        self._indexes: OrderedDict[str, CollectionIndex] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._rebuilding: dict[str, threading.Thread] = {}
        self._guard = threading.Lock()

    def get(self, collection: Collection) -> CollectionIndex:
        """An index at `collection.revision` or newer, or the previous one of a large collection
        while its rebuild runs in the background."""
        with self._guard:
            index = self._indexes.get(collection.id)
            if index is not None:
                self._indexes.move_to_end(collection.id)
                if index.revision >= collection.revision:
                    return index
                if index.build_seconds > self._sync_seconds:
                    if collection.id not in self._rebuilding:
                        thread = threading.Thread(
                            target=self._rebuild_in_background, args=(collection,), daemon=True, name="index-rebuild"
                        )
                        self._rebuilding[collection.id] = thread
                        thread.start()
                    return index
            lock = self._locks.setdefault(collection.id, threading.Lock())
        with lock:
            # Whoever waited on the lock finds the index the first caller built.
            index = self._fresh(collection)
            if index is None:
                index = self._build(collection)
        return index

    def _rebuild_in_background(self, collection: Collection) -> None:
        try:
            with self._lock_of(collection):
                if self._fresh(collection) is None:
                    self._build(collection)
        except Exception:  # noqa: BLE001 - the next search tries again (and raises in its own request)
            pass
        finally:
            with self._guard:
                self._rebuilding.pop(collection.id, None)

    def forget(self, collection_id: str) -> None:
        """Drop a deleted collection's index now (a rebuild running for it finishes and is kept
        until evicted; its rows are gone, so it finds nothing)."""
        with self._guard:
            self._indexes.pop(collection_id, None)
            self._locks.pop(collection_id, None)

    def close(self, timeout: float = 30.0) -> None:
        """Wait for background rebuilds (they hold store connections)."""
        with self._guard:
            threads = list(self._rebuilding.values())
        for thread in threads:
            thread.join(timeout)

    def _build(self, collection: Collection) -> CollectionIndex:
        started = time.perf_counter()
        files = self._files
        index = files.load(collection.id, collection.revision, load_vectors=self._load_vectors) if files else None
        saved = index is not None
        if index is None:
            index = build_index(self._db, collection.id, load_vectors=self._load_vectors)
        if self._load_vectors and len(index) >= self._ann_min_vectors and index.ann.graph is None:
            with self._guard:
                replacing = collection.id in self._indexes
            if replacing:
                # Off the request path already (or small): the new index goes live with its graph.
                index.ann.graph = build_graph(index.vectors)
                index = replace(index, build_seconds=time.perf_counter() - started)
            else:
                # Nothing to answer from yet: go live now, exact, and attach the graph when built.
                ready = index
                attach_in_background(index.ann, index.vectors, lambda: files.save_graph(ready) if files else None)
        if files is not None and not saved and index.build_seconds >= self._save_after_seconds:
            threading.Thread(target=files.save, args=(index,), daemon=True, name="index-save").start()
        with self._guard:
            current = self._indexes.get(collection.id)
            if current is None or current.revision <= index.revision:
                self._indexes[collection.id] = index
            self._indexes.move_to_end(collection.id)
            while len(self._indexes) > self._max:
                evicted, _ = self._indexes.popitem(last=False)
                self._locks.pop(evicted, None)
        return index

    def _lock_of(self, collection: Collection) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(collection.id, threading.Lock())

    def _fresh(self, collection: Collection) -> CollectionIndex | None:
        with self._guard:
            index = self._indexes.get(collection.id)
            return index if index is not None and index.revision >= collection.revision else None
