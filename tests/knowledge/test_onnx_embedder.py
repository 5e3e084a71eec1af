"""The packaged embedder reproduces sentence-transformers' all-MiniLM-L6-v2, offline, without torch."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from shipyard.knowledge import EmbedderError, OnnxEmbedder
from shipyard.knowledge.adapters.onnx import PACKAGED_MODEL

REFERENCE = json.loads((Path(__file__).parents[1] / "fixtures" / "minilm_reference.json").read_text())


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    model = OnnxEmbedder()
    model.warm_up()
    return model


def test_matches_the_fp32_reference(embedder: OnnxEmbedder) -> None:
    vectors = embedder.embed(REFERENCE["sentences"])
    reference = np.array(REFERENCE["embeddings"], dtype=np.float32)
    assert vectors.shape == (len(REFERENCE["sentences"]), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = (vectors * reference).sum(axis=1)
    # int8 per-channel quantization: measured min 0.991, mean 0.993 against fp32.
    assert cosines.min() > 0.98 and cosines.mean() > 0.99


def test_paraphrases_are_closer_than_unrelated_sentences(embedder: OnnxEmbedder) -> None:
    vectors = embedder.embed(REFERENCE["sentences"]).reshape(-1, 3, 384)
    for anchor, paraphrase, unrelated in vectors:
        assert anchor @ paraphrase > anchor @ unrelated + 0.3


def test_a_text_gets_the_same_vector_whatever_it_is_embedded_with(embedder: OnnxEmbedder) -> None:
    texts = ["short", "a somewhat longer sentence about databases", "", "mid length text here"] * 20
    together = embedder.embed(texts)
    alone = np.stack([embedder.embed([text])[0] for text in texts[:4]])
    np.testing.assert_array_equal(together[:4], alone)  # deterministic: safe to cache by content hash
    np.testing.assert_array_equal(together[:4], together[4:8])


def test_long_texts_are_truncated_not_refused(embedder: OnnxEmbedder) -> None:
    vector = embedder.embed(["word " * 5000])
    assert vector.shape == (1, 384) and np.isfinite(vector).all()


def test_empty_input_gives_an_empty_matrix(embedder: OnnxEmbedder) -> None:
    assert embedder.embed([]).shape == (0, 384)


def test_the_shipped_model_is_the_one_the_manifest_describes() -> None:
    manifest = json.loads((PACKAGED_MODEL / "manifest.json").read_text())
    assert hashlib.sha256((PACKAGED_MODEL / "model.onnx").read_bytes()).hexdigest() == manifest["onnx_sha256"]
    assert manifest["dimension"] == 384


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="no embedding model"):
        OnnxEmbedder(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "x", "dimension": 3, "max_sequence_length": 8}))
    with pytest.raises(EmbedderError, match="cannot load the embedding model"):
        OnnxEmbedder(tmp_path).embed(["hello"])
