"""Keyset pagination shared by every listing: the cursor is the key of the last row seen.

Clients treat cursors as opaque and pass back `next_cursor`. Each listing declares what its keys
look like (`CursorFormat`: an id from `ids.new_id`, a row number, a document id) and checks every
cursor it is given against that before querying. A cursor that cannot be one of its keys — cut
short, mangled, or another listing's — is an `InvalidCursor` (400), where a comparison with it
would have answered some page from somewhere else, or the first page again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from shipyard.errors import InvalidCursor, InvalidInput
from shipyard.ids import id_pattern

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


@dataclass(frozen=True)
class CursorFormat:
    """The keys one listing pages by, as a pattern a cursor must match whole."""

    pattern: re.Pattern[str]
    keys: str  # what they are, for the error: "job ids (job_ and 26 letters and digits)"

    def check(self, cursor: str) -> str:
        """`cursor`, if it can be one of this listing's keys. Raises `InvalidCursor`."""
        if self.pattern.fullmatch(cursor) is None:
            shown = cursor if len(cursor) <= 60 else f"{cursor[:60]}…"
            raise InvalidCursor(
                f"invalid cursor {shown!r}: this listing's cursors are {self.keys}; pass back the "
                "next_cursor of the previous page, or leave cursor out for the first page"
            )
        return cursor


def id_cursors(prefix: str) -> CursorFormat:
    """Cursors of a listing keyed by `ids.new_id(prefix)` ids."""
    return CursorFormat(re.compile(id_pattern(prefix)), f"{prefix} ids ({prefix}_ and 26 letters and digits)")


# Rows numbered by the store (BIGINT): 18 digits keep well inside its range.
NUMBER_CURSORS = CursorFormat(re.compile(r"[1-9][0-9]{0,17}"), "row numbers (1 or more)")
