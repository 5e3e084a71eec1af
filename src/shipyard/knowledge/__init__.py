"""Knowledge: turning documents into searchable, citable chunks (embedder and chunker so far)."""

from shipyard.knowledge.adapters.onnx import OnnxEmbedder
from shipyard.knowledge.chunking import Chunk, Chunker, ChunkingConfig
from shipyard.knowledge.errors import EmbedderError
from shipyard.knowledge.ports import Embedder
from shipyard.knowledge.tokens import TokenOffsets, WordPieceTokens

__all__ = [
    "Chunk",
    "Chunker",
    "ChunkingConfig",
    "Embedder",
    "EmbedderError",
    "OnnxEmbedder",
    "TokenOffsets",
    "WordPieceTokens",
]
