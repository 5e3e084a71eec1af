"""The OpenAI-compatible embedder, driven by the real `openai` client against a real HTTP server."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.errors import ConfigError
from shipyard.knowledge import EmbedderError
from shipyard.knowledge.adapters.onnx import OnnxEmbedder
from shipyard.knowledge.adapters.openai import OpenAIEmbedder
from shipyard.knowledge.registry import build_embedder
from tests.openai_server import DIMENSION, fake_vector, openai_embeddings_server


def test_batches_keep_order_and_come_back_normalised() -> None:
    with openai_embeddings_server() as (url, behaviour):
        embedder = OpenAIEmbedder(base_url=url, model="e5", api_key="sk-test", batch_size=64)
        texts = [f"text {i}" for i in range(150)]
        vectors = embedder.embed(texts)
    assert behaviour.batches == [64, 64, 22]
    assert vectors.shape == (150, DIMENSION) and embedder.dimension == DIMENSION
    expected = np.asarray([fake_vector(t) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)
    assert behaviour.keys[0] == "Bearer sk-test"


def test_dimension_is_asked_once_when_not_configured() -> None:
    with openai_embeddings_server() as (url, behaviour):
        embedder = OpenAIEmbedder(base_url=url, model="e5")
        assert embedder.dimension == DIMENSION
        assert embedder.embed([]).shape == (0, DIMENSION)
    assert behaviour.batches == [1]


def test_a_wrong_dimension_is_refused() -> None:
    with openai_embeddings_server() as (url, _):
        embedder = OpenAIEmbedder(base_url=url, model="e5", dimension=384)
        with pytest.raises(EmbedderError, match="returned 8-dimensional vectors, expected 384"):
            embedder.embed(["hello"])


@pytest.mark.parametrize(
    ("mode", "message"),
    [("unauthorized", "refused the API key for e5 \\(HTTP 401\\)"), ("error", "answered HTTP 500: boom")],
)
def test_upstream_errors_are_clear_and_never_show_the_key(mode: str, message: str) -> None:
    with openai_embeddings_server() as (url, behaviour):
        behaviour.mode = mode
        embedder = OpenAIEmbedder(base_url=url, model="e5", api_key="sk-secret-123", max_retries=0)
        with pytest.raises(EmbedderError, match=message) as failure:
            embedder.embed(["hello"])
    assert "sk-secret-123" not in str(failure.value)


def test_timeouts_and_unreachable_servers() -> None:
    with openai_embeddings_server() as (url, behaviour):
        behaviour.mode, behaviour.delay = "slow", 2.0
        embedder = OpenAIEmbedder(base_url=url, model="e5", timeout=0.2, max_retries=0)
        with pytest.raises(EmbedderError, match="did not answer in time"):
            embedder.embed(["hello"])
    gone = OpenAIEmbedder(base_url=url, model="e5", timeout=1, max_retries=0)  # the server has stopped
    with pytest.raises(EmbedderError, match="cannot reach the embeddings endpoint"):
        gone.embed(["hello"])


def test_registry_builds_each_backend_from_its_url() -> None:
    assert isinstance(build_embedder("onnx://all-minilm-l6-v2"), OnnxEmbedder)
    with openai_embeddings_server() as (url, behaviour):
        embedder = build_embedder(f"openai+{url}?model=e5&dimension=8", api_key="sk-x")
        assert isinstance(embedder, OpenAIEmbedder) and embedder.dimension == 8
        assert embedder.embed(["hi"]).shape == (1, 8)
    assert behaviour.keys == ["Bearer sk-x"]
    with pytest.raises(ConfigError, match="needs \\?model="):
        build_embedder("openai+https://api.example.com/v1")
    with pytest.raises(ConfigError, match="must be onnx://all-minilm-l6-v2 or start with openai"):
        build_embedder("hf://sentence-transformers/all-MiniLM-L6-v2")
