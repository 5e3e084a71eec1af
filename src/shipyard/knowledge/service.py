"""The knowledge domain's facade: collections, documents, ingestion and search, for every edge.

The API routes, the CLI, the ingest job and RAG all call this one service; it owns the one ingest
loop (items → loaded and fetched documents → chunks, embeddings, store), whoever reports progress.
It is built once by the composition root from the registry's adapters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import delete

from shipyard.errors import ShipyardError
from shipyard.ids import ProjectId
from shipyard.jobs import Job, JobContext, JobService, PermanentJobError
from shipyard.knowledge.chunking import ChunkingConfig
from shipyard.knowledge.collections import CollectionService
from shipyard.knowledge.documents import Document, DocumentInput, DocumentService
from shipyard.knowledge.fetch import FetchPolicy
from shipyard.knowledge.ingest import Ingester
from shipyard.knowledge.ingest_jobs import (
    MAX_TEXT_FIELD_CHARS,
    IngestItem,
    IngestReport,
    documents_of,
    enqueue_ingest,
    staged_items,
)
from shipyard.knowledge.registry import Embedders, Retrievers
from shipyard.knowledge.search import SearchRequest, SearchResult, SearchService
from shipyard.knowledge.types import Collection, CollectionNotFound
from shipyard.limits import check_length
from shipyard.paging import Page
from shipyard.store import Database, IngestItemRow

# Told after each item is read: (items done, the item's label, the report so far).
ItemProgress = Callable[[int, str, IngestReport], None]


class KnowledgeService:
    def __init__(
        self,
        database: Database,
        embedders: Embedders,
        retrievers: Retrievers,
        jobs: JobService,
        *,
        fetch_policy: FetchPolicy,
        observe_search: Callable[[str, float, int], None] | None = None,
    ) -> None:
        self._db = database
        self._jobs = jobs
        self._fetch_policy = fetch_policy
        self.embedders = embedders
        self.retrievers = retrievers
        self.collections = CollectionService(database, embedders)
        self.documents = DocumentService(database)
        self.ingester = Ingester(database, embedders, retrievers.vectors)
        self.searcher = SearchService(
            database,
            embedders,
            retrievers.vectors,
            retrievers.lexical,
            indexes=retrievers.indexes,
            observe=observe_search,
        )
        self.collections.on_delete(retrievers.vectors.drop)
        self.collections.on_delete(retrievers.lexical.drop)

    # Collections

    def create_collection(
        self,
        project_id: ProjectId,
        name: str,
        *,
        description: str | None = None,
        chunking: ChunkingConfig | None = None,
        embedder: str | None = None,
    ) -> Collection:
        return self.collections.create(project_id, name, description=description, chunking=chunking, embedder=embedder)

    def collection(self, project_id: ProjectId, name: str) -> Collection:
        """Raises `CollectionNotFound` listing the project's collections."""
        return self.collections.get(project_id, name)

    def list_collections(self, project_id: ProjectId) -> list[Collection]:
        return self.collections.list(project_id)

    def delete_collection(self, project_id: ProjectId, name: str) -> Collection:
        """Remove the collection, its documents and chunks; every store forgets it."""
        return self.collections.delete(project_id, name)

    # Documents

    def list_documents(self, collection: Collection, *, limit: int = 50, after: str | None = None) -> Page[Document]:
        return self.documents.list(collection, limit=limit, after=after)

    def get_document(self, collection: Collection, external_id: str) -> Document:
        return self.documents.get(collection, external_id)

    def delete_document(self, collection: Collection, external_id: str) -> Document:
        """Remove a document and its chunks and vectors (searches stop returning it at once)."""
        return self.documents.delete(collection, external_id)

    # Ingestion

    def ingest(
        self,
        collection: Collection,
        items: Iterable[IngestItem],
        *,
        text_field: str | None = None,
        on_item: ItemProgress | None = None,
    ) -> IngestReport:
        """Index documents, files and URLs into `collection`: the one ingest loop.

        Items are read one at a time (a file or URL that cannot be read or parsed fails alone and
        is reported); their documents are ingested in batches across items, each batch atomic.
        A document id given twice fails the second time. Raises what the ingester raises
        (embedder or store failures; `CollectionNotFound` when the collection was deleted).
        """
        check_length("text_field", text_field, MAX_TEXT_FIELD_CHARS)
        report = IngestReport()
        labels: dict[str, str] = {}

        def documents() -> Iterator[DocumentInput]:
            for position, item in enumerate(items, start=1):
                label = item.name or f"item {position}"
                try:
                    loaded = documents_of(item, fetch_policy=self._fetch_policy, text_field=text_field)
                except ShipyardError as exc:
                    report.error(label, exc.message)
                else:
                    for document in loaded:
                        labels[document.external_id] = label
                        yield document
                if on_item is not None:
                    on_item(position, label, report)

        self.ingester.ingest(
            collection,
            documents(),
            on_outcome=lambda outcome: report.add(outcome, labels.get(outcome.document_id, outcome.document_id)),
        )
        return report

    def enqueue_ingest(self, collection: Collection, items: list[IngestItem], *, text_field: str | None = None) -> Job:
        """Stage `items` with a `knowledge.ingest` job (one transaction); any worker runs it."""
        return enqueue_ingest(self._jobs, collection, items, text_field=text_field)

    def run_ingest_job(self, ctx: JobContext) -> dict[str, Any]:
        """The `knowledge.ingest` job: its staged items through `ingest`, progress per item."""
        payload = ctx.payload
        try:
            collection = self.collections.get_by_id(ProjectId(ctx.job.project_id), str(payload["collection_id"]))
        except (KeyError, CollectionNotFound) as exc:
            raise PermanentJobError(f"collection {payload.get('collection')!r} no longer exists") from exc
        total = int(payload.get("items", 0))
        ctx.progress(0, total, f"ingesting into {collection.name}")

        def progress(done: int, label: str, report: IngestReport) -> None:
            ctx.progress(done, total, f"{done} of {total} items; {report.chunks} chunks written")

        try:
            report = self.ingest(
                collection, staged_items(self._db, ctx.job.id), text_field=payload.get("text_field"), on_item=progress
            )
        except CollectionNotFound as exc:
            raise PermanentJobError(exc.message) from exc
        ctx.progress(total, total, f"{total} of {total} items; {report.chunks} chunks written")
        with self._db.write() as session:
            session.execute(delete(IngestItemRow).where(IngestItemRow.job_id == ctx.job.id))
        return report.as_dict()

    # Search

    def search(self, collection: Collection, request: SearchRequest) -> list[SearchResult]:
        """Hybrid (default), dense or lexical search with a metadata filter; results cite their spans."""
        return self.searcher.run(collection, request)
