"""Chunking: exact spans, heading paths, token limits, overlap — on examples and generated text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.errors import InvalidInput
from shipyard.knowledge.chunking import Chunk, Chunker, ChunkingConfig
from shipyard.knowledge.tokens import WordPieceTokens

TOKENS = WordPieceTokens()

GUIDE = """# Guide

Intro paragraph. It has two sentences.

## Install

Run pip install. Then run the thing with many many words so that the paragraph goes beyond thirty
tokens for sure, really it does, yes indeed.

```bash
# not a heading
pip install shipyard

echo done
```

### Offline
Use the packaged model.

## Use
Short.
"""


def chunker(max_tokens: int = 30, overlap: int = 8) -> Chunker:
    return Chunker(ChunkingConfig(max_tokens=max_tokens, overlap_tokens=overlap), TOKENS)


def assert_invariants(text: str, chunks: list[Chunk], config: ChunkingConfig) -> None:
    for i, chunk in enumerate(chunks):
        assert chunk.index == i
        assert chunk.text == text[chunk.start : chunk.end]  # citations point at exact characters
        assert chunk.text == chunk.text.strip() and chunk.text
        assert chunk.token_count == len(TOKENS.token_starts(chunk.text)[0])
        # A single word longer than the limit is the only way past it (nothing smaller to cut at).
        assert chunk.token_count <= config.max_tokens or " " not in chunk.text
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    covered = {i for c in chunks for i in range(c.start, c.end)}
    assert all(text[i].isspace() for i in range(len(text)) if i not in covered)  # nothing is lost


def test_headings_become_paths_and_code_fences_are_not_headings() -> None:
    chunks = chunker().chunk(GUIDE)
    assert_invariants(GUIDE, chunks, chunker().config)
    paths = [c.heading_path for c in chunks]
    assert paths[0] == ("Guide",)
    assert ("Guide", "Install", "Offline") in paths
    assert paths[-1] == ("Guide", "Use")
    assert all("not a heading" not in "".join(p) for p in paths)
    code = next(c for c in chunks if c.text.startswith("```bash"))
    assert code.text.endswith("```") and "echo done" in code.text  # the blank line inside stays inside


def test_no_chunk_crosses_a_heading() -> None:
    for chunk in chunker(max_tokens=200).chunk(GUIDE):
        headings = [line for line in chunk.text.splitlines() if line.startswith("#") and line != "# not a heading"]
        assert headings == [] or (len(headings) == 1 and chunk.text.startswith(headings[0]))


def test_long_paragraphs_split_at_sentences_and_overlap() -> None:
    sentences = [f"Sentence number {i} talks about topic {i} at some length." for i in range(40)]
    text = " ".join(sentences)
    config = ChunkingConfig(max_tokens=40, overlap_tokens=12)
    chunks = Chunker(config, TOKENS).chunk(text, markdown=False)
    assert len(chunks) > 5
    assert_invariants(text, chunks, config)
    for chunk in chunks:
        assert chunk.text.startswith("Sentence number") and chunk.text.endswith(".")
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:], strict=False))  # consecutive chunks overlap


def test_a_sentence_longer_than_the_limit_is_cut_into_token_windows() -> None:
    text = " ".join(f"word{i}" for i in range(300))
    config = ChunkingConfig(max_tokens=50, overlap_tokens=0)
    chunks = Chunker(config, TOKENS).chunk(text, markdown=False)
    assert_invariants(text, chunks, config)
    assert sum(c.token_count for c in chunks) == len(TOKENS.token_starts(text)[0])
    assert all(c.text.startswith("word") for c in chunks)  # cut between words, not inside one


def test_empty_and_blank_text_give_no_chunks() -> None:
    assert chunker().chunk("") == []
    assert chunker().chunk(" \n\n\t ") == []


def test_bad_config_says_what_is_allowed() -> None:
    with pytest.raises(InvalidInput, match="max_tokens must be between 16 and 2048"):
        ChunkingConfig(max_tokens=4)
    with pytest.raises(InvalidInput, match="overlap_tokens must be between 0 and half"):
        ChunkingConfig(max_tokens=100, overlap_tokens=80)


markdownish = st.lists(
    st.one_of(
        # As loaders produce it: no control characters but tab and newline (see chunking.py).
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters="\t\n"),
            max_size=300,
        ),
        st.sampled_from(["# Title", "## Part", "### Deep", "```", "~~~", "", "\n", "A sentence. Another one!"]),
    ),
    max_size=40,
).map("\n".join)


# derandomize: CI runs the same examples every time; explore locally with more and random ones.
@settings(max_examples=150, deadline=None, derandomize=True)
@given(text=markdownish, max_tokens=st.integers(16, 80), overlap=st.integers(0, 8))
def test_invariants_hold_for_any_text(text: str, max_tokens: int, overlap: int) -> None:
    config = ChunkingConfig(max_tokens=max_tokens, overlap_tokens=overlap)
    assert_invariants(text, Chunker(config, TOKENS).chunk(text), config)
