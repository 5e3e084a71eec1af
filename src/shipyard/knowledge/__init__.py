"""Knowledge: documents turned into searchable, citable chunks.

types → ports → adapters (embedded, pgvector) → registry → `KnowledgeService`, the facade every
edge uses. See docs/knowledge.md ("Adding a vector store or lexical index").
"""

from shipyard.knowledge.adapters.onnx import OnnxEmbedder
from shipyard.knowledge.chunking import Chunk, Chunker, ChunkingConfig
from shipyard.knowledge.errors import DocumentTooLarge, EmbedderError
from shipyard.knowledge.loaders import CorruptDocument, LoadedDocument, UnsupportedDocument, load
from shipyard.knowledge.ports import Embedder, LexicalIndex, VectorStore
from shipyard.knowledge.search import SearchRequest, SearchResult
from shipyard.knowledge.service import KnowledgeService
from shipyard.knowledge.tokens import TokenOffsets, WordPieceTokens
from shipyard.knowledge.types import Collection, CollectionNotFound, Condition, Hits

__all__ = [
    "Chunk",
    "Collection",
    "CollectionNotFound",
    "Condition",
    "CorruptDocument",
    "DocumentTooLarge",
    "Hits",
    "KnowledgeService",
    "LoadedDocument",
    "SearchRequest",
    "SearchResult",
    "UnsupportedDocument",
    "load",
    "Chunker",
    "ChunkingConfig",
    "Embedder",
    "EmbedderError",
    "LexicalIndex",
    "OnnxEmbedder",
    "TokenOffsets",
    "VectorStore",
    "WordPieceTokens",
]
