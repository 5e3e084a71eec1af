"""Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, Ollama, TEI,
llama.cpp server) through the official `openai` client: one pooled client per process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shipyard.knowledge.errors import EmbedderError

# Most servers accept 64+ inputs per request; fewer, larger requests amortise the round trip.
DEFAULT_BATCH_SIZE = 64


class OpenAIEmbedder:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dimension: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        """`dimension=None` asks the server once (a one-word embedding) on first use."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        import openai

        self.name = f"openai:{model}"
        self._model = model
        self._base_url = base_url
        self._batch_size = batch_size
        self._dimension = dimension
        # Local servers need no key; the client insists on one, so send a placeholder.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "unused", timeout=timeout, max_retries=max_retries
        )

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self._request(["dimension probe"]).shape[1])
        return self._dimension

    @property
    def declared_dimension(self) -> int | None:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        parts = [self._request(list(texts[i : i + self._batch_size])) for i in range(0, len(texts), self._batch_size)]
        vectors = np.concatenate(parts)
        if self._dimension is None:
            self._dimension = int(vectors.shape[1])
        elif vectors.shape[1] != self._dimension:
            raise EmbedderError(
                f"{self.name} at {self._base_url} returned {vectors.shape[1]}-dimensional vectors, "
                f"expected {self._dimension}"
            )
        return vectors

    def _request(self, batch: list[str]) -> NDArray[np.float32]:
        import openai

        try:
            response = self._client.embeddings.create(model=self._model, input=batch, encoding_format="float")
        except openai.AuthenticationError as exc:
            raise EmbedderError(f"{self._base_url} refused the API key for {self._model} (HTTP 401)") from exc
        except openai.APITimeoutError as exc:
            raise EmbedderError(f"{self._base_url} did not answer in time") from exc
        except openai.APIStatusError as exc:
            raise EmbedderError(f"{self._base_url} answered HTTP {exc.status_code}: {_message(exc)}") from exc
        except openai.APIConnectionError as exc:
            raise EmbedderError(f"cannot reach the embeddings endpoint {self._base_url}") from exc
        rows = sorted(response.data, key=lambda item: item.index)
        if len(rows) != len(batch):
            raise EmbedderError(f"{self._base_url} returned {len(rows)} embeddings for {len(batch)} inputs")
        vectors = np.asarray([row.embedding for row in rows], dtype=np.float32)
        # Not every server normalises; search compares by cosine, so every vector leaves unit-length.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalised: NDArray[np.float32] = vectors / np.maximum(norms, 1e-12)
        return normalised


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])[:200]
    return str(exc)[:200]
