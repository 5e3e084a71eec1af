"""Knowledge: turning documents into searchable, citable chunks (embedders so far)."""

from shipyard.knowledge.adapters.onnx import OnnxEmbedder
from shipyard.knowledge.errors import EmbedderError
from shipyard.knowledge.ports import Embedder

__all__ = ["Embedder", "EmbedderError", "OnnxEmbedder"]
