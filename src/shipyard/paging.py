"""Keyset pagination shared by every listing (newest first, opaque cursor = last id seen)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    # Pass back as `cursor` to get the next (older) page; None when this was the last page.
    next_cursor: str | None
