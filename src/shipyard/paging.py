"""Keyset pagination shared by every listing (newest first, opaque cursor = last id seen)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from shipyard.errors import InvalidInput

T = TypeVar("T")
R = TypeVar("R")

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    # Pass back as `cursor` to get the next (older) page; None when this was the last page.
    next_cursor: str | None


def check_limit(limit: int) -> int:
    """The page size, validated; queries fetch `limit + 1` rows to know whether more follow."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    return limit


def page_of(rows: Sequence[R], limit: int, convert: Callable[[R], T], cursor_of: Callable[[T], object]) -> Page[T]:
    """A page from up to `limit + 1` rows fetched newest first."""
    items = [convert(row) for row in rows[:limit]]
    more = len(rows) > limit
    return Page(items=items, next_cursor=str(cursor_of(items[-1])) if more else None)
