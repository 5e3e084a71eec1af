"""Ports of the knowledge domain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray


class Embedder(Protocol):
    """Turns texts into vectors: the packaged ONNX model by default, any OpenAI-compatible endpoint later."""

    name: str

    @property
    def dimension(self) -> int:
        """Length of every vector this embedder returns (a remote model may be asked once)."""
        ...

    @property
    def declared_dimension(self) -> int | None:
        """The dimension if known without asking the model (configuration, manifest)."""
        ...

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One L2-normalised row per text, in input order. Raises `EmbedderError`."""
        ...
