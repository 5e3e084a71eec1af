"""Knowledge: turning documents into searchable, citable chunks (loaders, chunker, embedders so far)."""

from shipyard.knowledge.adapters.onnx import OnnxEmbedder
from shipyard.knowledge.chunking import Chunk, Chunker, ChunkingConfig
from shipyard.knowledge.errors import EmbedderError
from shipyard.knowledge.lexical import LexicalIndex
from shipyard.knowledge.loaders import CorruptDocument, LoadedDocument, UnsupportedDocument, load
from shipyard.knowledge.ports import Embedder
from shipyard.knowledge.tokens import TokenOffsets, WordPieceTokens

__all__ = [
    "Chunk",
    "CorruptDocument",
    "LoadedDocument",
    "UnsupportedDocument",
    "load",
    "Chunker",
    "ChunkingConfig",
    "Embedder",
    "EmbedderError",
    "LexicalIndex",
    "OnnxEmbedder",
    "TokenOffsets",
    "WordPieceTokens",
]
