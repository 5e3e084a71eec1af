"""BM25 lexical search: ranking, stemming, candidate filters, persistence, edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.knowledge.lexical import LexicalIndex

DOCS = {
    "pw": "How to reset your password when you forget it",
    "keys": "Rotating API keys every year keeps the platform safe",
    "run": "Running the worker: start it with shipyard worker",
    "cats": "Cats sleep most of the day",
}


@pytest.fixture
def index() -> LexicalIndex:
    return LexicalIndex.build(list(DOCS), list(DOCS.values()))


def test_ranks_by_bm25_and_stems(index: LexicalIndex) -> None:
    assert index.search("forgot password reset", k=3)[0][0] == "pw"
    assert [doc for doc, _ in index.search("run workers", k=3)] == ["run"]  # running/worker stemmed
    scores = [score for _, score in index.search("keys platform password", k=4)]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)


def test_only_matching_documents_and_only_candidates(index: LexicalIndex) -> None:
    assert index.search("the of it", k=5) == []  # stopwords only
    assert index.search("zebra", k=5) == []
    assert index.search("password keys", k=5, candidates={"keys", "cats"}) == [
        ("keys", index.search("password keys", k=5)[1][1])
    ]
    assert index.search("password", k=5, candidates=set()) == []


def test_save_and_load_give_the_same_results(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    assert len(loaded) == 4
    assert loaded.search("password keys worker", k=4) == index.search("password keys worker", k=4)


def test_an_empty_collection_searches_to_nothing(tmp_path: Path) -> None:
    empty = LexicalIndex.build([], [])
    assert empty.search("anything", k=3) == []
    empty.save(tmp_path / "e")
    assert LexicalIndex.load(tmp_path / "e").search("anything", k=3) == []


def test_bad_arguments_are_refused(index: LexicalIndex) -> None:
    with pytest.raises(ValueError, match="k must be at least 1"):
        index.search("password", k=0)
    with pytest.raises(ValueError, match="unique"):
        LexicalIndex.build(["a", "a"], ["x", "y"])
