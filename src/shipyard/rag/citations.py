"""From `[n]` markers in an answer to the passages they cite."""

from __future__ import annotations

import re
from collections.abc import Sequence

from shipyard.rag.passages import Passage

# [1], [2][3], [1, 2], [1-3]
_MARKER = re.compile(r"\[(\d+(?:\s*[-–,]\s*\d+)*)\]")


def cited(answer: str, passages: Sequence[Passage]) -> tuple[list[Passage], list[int]]:
    """The passages the answer cites, in order of first citation, and the numbers it cites that
    name no passage (a model inventing sources is worth seeing on the trace)."""
    by_index = {p.index: p for p in passages}
    found: list[Passage] = []
    invalid: list[int] = []
    for match in _MARKER.finditer(answer):
        for number in _numbers(match.group(1)):
            passage = by_index.get(number)
            if passage is None:
                if number not in invalid:
                    invalid.append(number)
            elif passage not in found:
                found.append(passage)
    return found, invalid


def _numbers(group: str) -> list[int]:
    numbers: list[int] = []
    for part in group.split(","):
        bounds = [int(b) for b in re.split(r"\s*[-–]\s*", part.strip())]
        if len(bounds) == 2:  # a range; capped, a model writing [1-999] cites nothing real
            numbers.extend(range(bounds[0], min(bounds[1], bounds[0] + 20) + 1))
        else:
            numbers.extend(bounds)
    return numbers
