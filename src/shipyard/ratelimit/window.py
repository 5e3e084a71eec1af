"""The sliding-window counter both adapters implement.

Counts live in fixed one-minute windows; a request is allowed when
`previous · (1 − offset/60) + current + 1 ≤ limit`, i.e. the previous window counts in
proportion to how much of it still overlaps the last 60 s. Smooth like a true sliding log, but
two integers per key.
"""

from __future__ import annotations

import math

WINDOW_SECONDS = 60.0


def weighted_count(current: float, previous: float, offset: float) -> float:
    """Requests in the last minute, estimated from the two windows and the offset into this one."""
    return previous * (1 - offset / WINDOW_SECONDS) + current


def retry_after(current: float, previous: float, offset: float, limit: int) -> int:
    """Whole seconds until one more request fits (at least 1)."""
    if current + 1 > limit or previous == 0:
        return max(1, math.ceil(WINDOW_SECONDS - offset))
    # previous · (1 − t/W) + current + 1 ≤ limit  ⇔  t ≥ W · (1 − (limit − current − 1) / previous)
    needed = WINDOW_SECONDS * (1 - (limit - current - 1) / previous)
    return max(1, math.ceil(needed - offset))
