"""Retrieved chunks as numbered passages: deduplicated, best first, packed into a token budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shipyard.errors import InvalidInput
from shipyard.knowledge.search import SearchResult


@dataclass(frozen=True)
class Passage:
    """A chunk the answer may cite as `[index]` (1-based, in the order given to the model)."""

    index: int
    chunk_id: str
    document_id: str
    title: str | None
    source: str | None
    span: tuple[int, int]
    text: str
    score: float
    similarity: float | None

    def for_prompt(self) -> dict[str, object]:
        return {"index": self.index, "title": self.title, "source": self.source, "text": self.text}


class PromptTooLong(InvalidInput):
    code = "prompt_too_long"


def pack(
    results: Sequence[SearchResult], *, budget: int, count: Callable[[str], int], per_passage_overhead: int = 12
) -> list[Passage]:
    """The best results that fit in `budget` tokens, numbered from 1.

    Skips a result whose text repeats one already taken, or whose span lies inside a taken chunk
    of the same document (overlapping chunks). A result that does not fit is skipped, not cut, and
    smaller ones after it may still fit. Raises `PromptTooLong` when not even one fits.
    """
    taken: list[Passage] = []
    seen_texts: set[str] = set()
    used = 0
    smallest_over = 0
    for result in results:
        key = " ".join(result.text.split()).lower()
        if key in seen_texts or _inside_taken(result, taken):
            continue
        cost = count(result.text) + count(result.title or "") + per_passage_overhead
        if used + cost > budget:
            smallest_over = min(smallest_over or cost, cost)
            continue
        seen_texts.add(key)
        used += cost
        taken.append(
            Passage(
                index=len(taken) + 1, chunk_id=result.chunk_id, document_id=result.document_id, title=result.title,
                source=result.source, span=result.span, text=result.text, score=result.score,
                similarity=result.similarity,
            )
        )  # fmt: skip
    if results and not taken:
        raise PromptTooLong(
            f"the prompt does not fit the model: its smallest retrieved passage needs {smallest_over} tokens, "
            f"{smallest_over - budget} more than the {max(budget, 0)} left after the prompt and the answer"
        )
    return taken


def _inside_taken(result: SearchResult, taken: list[Passage]) -> bool:
    start, end = result.span
    return any(p.document_id == result.document_id and p.span[0] <= start and end <= p.span[1] for p in taken)
