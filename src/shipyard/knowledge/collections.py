"""Collections: named sets of documents in a project, each with its chunking and embedder."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.errors import ConfigError, Conflict, InvalidInput
from shipyard.ids import ProjectId, new_id
from shipyard.knowledge.chunking import ChunkingConfig
from shipyard.knowledge.registry import Embedders
from shipyard.knowledge.types import Collection, CollectionNotFound
from shipyard.limits import check_length
from shipyard.names import check_name
from shipyard.store import CollectionRow, Database
from shipyard.store.types import utcnow

MAX_EMBEDDER_URL_CHARS = 500  # the column's width

__all__ = ["Collection", "CollectionNotFound", "CollectionService"]


class CollectionService:
    def __init__(self, database: Database, embedders: Embedders) -> None:
        self._db = database
        self._embedders = embedders
        self._deleted: list[Callable[[Collection], None]] = []

    def on_delete(self, listener: Callable[[Collection], None]) -> None:
        """Call `listener` after a collection is deleted (vector stores drop its index)."""
        self._deleted.append(listener)

    def create(
        self,
        project_id: ProjectId,
        name: str,
        *,
        description: str | None = None,
        chunking: ChunkingConfig | None = None,
        embedder: str | None = None,
    ) -> Collection:
        check_name("collection", name)
        check_length("description", description)
        check_length("embedder", embedder, MAX_EMBEDDER_URL_CHARS)
        url = embedder or self._embedders.default_url
        try:
            dimension = self._embedders.get(url).declared_dimension
        except ConfigError as exc:
            raise InvalidInput(exc.message) from exc
        config = chunking or ChunkingConfig()
        now = utcnow()
        row = CollectionRow(
            id=new_id("col"),
            project_id=project_id,
            name=name,
            description=description,
            chunking={"max_tokens": config.max_tokens, "overlap_tokens": config.overlap_tokens},
            embedder=url,
            dimension=dimension,
            revision=0,
            created_at=now,
            updated_at=now,
        )
        try:
            with self._db.write() as session:
                session.add(row)
        except IntegrityError as exc:
            raise Conflict(f"collection {name!r} already exists in this project") from exc
        return _collection(row)

    def list(self, project_id: ProjectId) -> list[Collection]:
        with self._db.read() as session:
            rows = session.scalars(
                select(CollectionRow).where(CollectionRow.project_id == project_id).order_by(CollectionRow.name)
            )
            return [_collection(row) for row in rows]

    def get(self, project_id: ProjectId, name: str) -> Collection:
        with self._db.read() as session:
            return _collection(_row(session, project_id, name))

    def get_by_id(self, project_id: ProjectId, collection_id: str) -> Collection:
        """The collection a job was created for, even if it was renamed since."""
        with self._db.read() as session:
            row = session.get(CollectionRow, collection_id)
            if row is None or row.project_id != project_id:
                raise CollectionNotFound(f"no collection with id {collection_id!r} in this project")
            return _collection(row)

    def delete(self, project_id: ProjectId, name: str) -> Collection:
        with self._db.write() as session:
            row = _row(session, project_id, name)
            session.delete(row)
        collection = _collection(row)
        for listener in self._deleted:
            listener(collection)
        return collection


def _row(session: Session, project_id: ProjectId, name: str) -> CollectionRow:
    row = session.scalars(
        select(CollectionRow).where(CollectionRow.project_id == project_id, CollectionRow.name == name)
    ).first()
    if row is None:
        names = session.scalars(
            select(CollectionRow.name).where(CollectionRow.project_id == project_id).order_by(CollectionRow.name)
        ).all()
        existing = ", ".join(names) if names else "none yet"
        raise CollectionNotFound(f"no collection named {name!r} in this project; collections: {existing}")
    return row


def _collection(row: CollectionRow) -> Collection:
    return Collection(
        id=row.id,
        project_id=ProjectId(row.project_id),
        name=row.name,
        description=row.description,
        chunking=ChunkingConfig(**row.chunking),
        embedder=row.embedder,
        dimension=row.dimension,
        revision=row.revision,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
