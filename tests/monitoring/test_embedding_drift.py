"""Embedding drift on real questions (../shared/data): SciFact's scientific claims against SQuAD-style
XQuAD questions, embedded with the packaged model — Evidently's classifier method and MMD."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from shipyard.errors import InvalidInput
from shipyard.knowledge.registry import Embedders
from shipyard.monitoring.embeddings import embedding_drift
from shipyard.settings import Settings
from tests.examples import shared_data

DATA = shared_data()


@pytest.fixture(scope="module")
def questions() -> tuple[np.ndarray, np.ndarray]:
    embedder = Embedders(Settings().knowledge.embedder_url).get()
    claims = [json.loads(line)["text"] for line in (DATA / "scifact" / "queries.jsonl").read_text().splitlines()][:600]
    with gzip.open(DATA / "xquad_en" / "qa.jsonl.gz", "rt") as lines:
        trivia = [json.loads(line)["question"] for line in lines][:300]
    return embedder.embed(claims), embedder.embed(trivia)


@pytest.mark.parametrize("method", ["model", "mmd"])
def test_another_kind_of_question_drifts_and_the_same_kind_does_not(
    questions: tuple[np.ndarray, np.ndarray], method: str
) -> None:
    claims, trivia = questions
    order = np.random.default_rng(0).permutation(len(claims))
    same = embedding_drift(claims[order[:300]], claims[order[300:]], method=method)  # type: ignore[arg-type]
    other = embedding_drift(claims[:300], trivia, method=method)  # type: ignore[arg-type]
    # One question in ten from elsewhere is already visible.
    mixed = embedding_drift(claims[:300], np.vstack([claims[300:570], trivia[:30]]), method=method)  # type: ignore[arg-type]
    assert (same.status, other.status, mixed.status) == ("no_drift", "drift", "drift")
    if method == "model":
        assert same.score is not None and other.score is not None
        assert same.score < 0.55 < other.score and other.score > 0.99
        # Under 1,000 reference rows the threshold is the 95th percentile of random AUCs, not 0.55.
        assert 0.5 < same.threshold < 0.6 and same.threshold != 0.55
    else:
        assert other.score is not None and other.score < 0.01 and same.score is not None and same.score > 0.05


def test_embedding_drift_bad_input() -> None:
    rng = np.random.default_rng(1)
    with pytest.raises(InvalidInput, match="differ in size: 8 vs 4"):
        embedding_drift(rng.normal(size=(50, 8)), rng.normal(size=(50, 4)))
    with pytest.raises(InvalidInput, match="2-D array"):
        embedding_drift(rng.normal(size=50), rng.normal(size=(50, 4)))
    with pytest.raises(InvalidInput, match="unknown embedding drift method"):
        embedding_drift(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)), method="magic")  # type: ignore[arg-type]
    few = embedding_drift(rng.normal(size=(50, 4)), rng.normal(size=(5, 4)))
    assert (few.status, few.score) == ("insufficient_data", None)
    with_nan = rng.normal(size=(60, 4))
    with_nan[:20] = np.nan
    assert embedding_drift(with_nan, rng.normal(size=(60, 4))).reference_rows == 40
