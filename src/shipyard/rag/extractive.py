"""The extractive answerer: the default when no LLM is configured.

It answers with the retrieved passages' own sentences that best cover the question's terms
(analysed exactly as BM25 analyses them: stopwords out, stemmed), weighted by how rare each term
is among the candidate sentences, with a small preference for better-ranked passages. Every
sentence is quoted verbatim and cited, so the answer is grounded by construction; it is fast
(no model call, ~1 ms) and works offline. It cannot synthesise or reason — that is what an LLM is
for — and says so by answering with quotes.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from shipyard.knowledge.lexical import analyse
from shipyard.rag.passages import Passage

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*(?:[-*#]|\d+\.)\s)")
MAX_SENTENCE_CHARS = 400
# A sentence must cover this share of the question's (idf-weighted) terms to be quoted at all.
MIN_COVERAGE = 0.2
RANK_PRIOR = 0.05  # per passage rank: breaks ties toward what retrieval ranked higher


@dataclass(frozen=True)
class _Sentence:
    passage: Passage
    position: int
    text: str


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(self, max_sentences: int = 3) -> None:
        if max_sentences < 1:
            raise ValueError(f"max_sentences must be at least 1, got {max_sentences}")
        self.max_sentences = max_sentences

    def answer(self, question: str, passages: Sequence[Passage]) -> str | None:
        """Quoted sentences with `[n]` citations; None when there is nothing to quote."""
        sentences = [s for p in passages for s in _sentences(p)]
        if not sentences:
            return None
        analysed = analyse([question] + [s.text for s in sentences])
        query = set(analysed[0])
        if not query:
            return None
        df = Counter(term for terms in analysed[1:] for term in set(terms) & query)
        idf = {term: math.log(1 + len(sentences) / (1 + df[term])) for term in query}
        total = sum(idf.values())
        scored = []
        for sentence, terms in zip(sentences, analysed[1:], strict=True):
            coverage = sum(idf[t] for t in query & set(terms)) / total
            scored.append((coverage, coverage + RANK_PRIOR / sentence.passage.index, sentence))
        scored.sort(key=lambda item: -item[1])
        # The pipeline has already judged the passages relevant (by embedding similarity): the best
        # sentence is quoted even when it shares few words with the question; more only if they
        # cover enough of it.
        scored = scored[:1] + [item for item in scored[1:] if item[0] >= MIN_COVERAGE]
        chosen: list[_Sentence] = []
        seen: set[str] = set()
        for _, _, sentence in scored:
            key = " ".join(sentence.text.lower().split())
            if key not in seen:
                seen.add(key)
                chosen.append(sentence)
            if len(chosen) == self.max_sentences:
                break
        chosen.sort(key=lambda s: (s.passage.index, s.position))
        return " ".join(f"{s.text} [{s.passage.index}]" for s in chosen)


def _sentences(passage: Passage) -> list[_Sentence]:
    found = []
    for position, raw in enumerate(_SENTENCE_END.split(passage.text)):
        if raw.lstrip().startswith("#"):
            continue  # a heading names a section (and is in the chunk's heading path); it answers nothing
        text = " ".join(raw.strip().lstrip("*-").split())
        if len(text.split()) < 3:
            continue
        if len(text) > MAX_SENTENCE_CHARS:
            text = text[: MAX_SENTENCE_CHARS - 1].rsplit(" ", 1)[0] + "…"
        found.append(_Sentence(passage, position, text))
    return found
