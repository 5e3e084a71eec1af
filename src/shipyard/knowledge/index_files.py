"""Search indexes saved to disk per revision, so a process restarts without rebuilding them.

A large collection's index (BM25, vectors, filter columns, HNSW graph) takes minutes to build at
a million chunks; saved under `SHIPYARD_HOME/indexes/<collection>/r<revision>/`, it loads in
seconds. Files are a cache of the store: a directory is only used for exactly the revision the
store reports, is written to a temporary name and renamed into place (a crash leaves no half
index), and older revisions are removed once a newer one is saved.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from shipyard.knowledge.ann import faiss_module
from shipyard.knowledge.lexical import LexicalIndex
from shipyard.knowledge.memory import CollectionIndex, DocumentFields

FORMAT = 1
_GRAPH = "hnsw.faiss"


class IndexFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def load(self, collection_id: str, revision: int, *, load_vectors: bool) -> CollectionIndex | None:
        """The saved index of exactly `revision`, or None (missing, other format, unreadable)."""
        directory = self._directory(collection_id, revision)
        try:
            meta = json.loads((directory / "meta.json").read_text())
            if meta["format"] != FORMAT or meta["has_vectors"] != load_vectors:
                return None
            columns = json.loads((directory / "fields.json").read_text())
            vectors = np.load(directory / "vectors.npy") if load_vectors else np.empty((0, 0), dtype=np.float32)
            chunk_ids: list[str] = meta["chunk_ids"]
            index = CollectionIndex(
                collection_id=collection_id,
                revision=revision,
                chunk_ids=chunk_ids,
                positions={chunk_id: i for i, chunk_id in enumerate(chunk_ids)},
                chunk_documents=np.load(directory / "chunk_documents.npy"),
                vectors=vectors,
                lexical=LexicalIndex.load(directory / "lexical"),
                fields=DocumentFields.from_columns(meta["documents"], columns),
                build_seconds=float(meta["build_seconds"]),
            )
            if (directory / _GRAPH).exists():
                index.ann.graph = faiss_module().read_index(str(directory / _GRAPH))
            return index
        except Exception:  # noqa: BLE001 - a cache: anything unreadable is rebuilt from the store
            return None

    def save(self, index: CollectionIndex) -> None:
        """Write `index` under its revision (atomically) and drop older revisions."""
        target = self._directory(index.collection_id, index.revision)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=target.parent))
        try:
            np.save(staging / "chunk_documents.npy", index.chunk_documents)
            if len(index.vectors):
                np.save(staging / "vectors.npy", index.vectors)
            index.lexical.save(staging / "lexical")
            (staging / "fields.json").write_text(json.dumps(index.fields.columns()))
            meta = {
                "format": FORMAT,
                "revision": index.revision,
                "chunk_ids": index.chunk_ids,
                "documents": index.fields.count,
                "has_vectors": bool(len(index.vectors)) or not len(index),
                "build_seconds": index.build_seconds,
            }
            (staging / "meta.json").write_text(json.dumps(meta))
            if index.ann.graph is not None:
                faiss_module().write_index(index.ann.graph, str(staging / _GRAPH))
            os.rename(staging, target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            return
        for other in target.parent.glob("r*"):
            if other != target:
                shutil.rmtree(other, ignore_errors=True)

    def save_graph(self, index: CollectionIndex) -> None:
        """Add the HNSW graph, built after the index was saved, to its saved revision."""
        directory = self._directory(index.collection_id, index.revision)
        if index.ann.graph is None or not directory.exists() or (directory / _GRAPH).exists():
            return
        partial = directory / f".{_GRAPH}.{os.getpid()}"
        faiss_module().write_index(index.ann.graph, str(partial))
        os.replace(partial, directory / _GRAPH)

    def drop(self, collection_id: str) -> None:
        shutil.rmtree(self.root / collection_id, ignore_errors=True)

    def _directory(self, collection_id: str, revision: int) -> Path:
        return self.root / collection_id / f"r{revision:012d}"
