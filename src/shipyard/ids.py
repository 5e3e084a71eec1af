"""Distinct id types and time-sortable id generation.

Ids look like `job_01J9ZK8T0C2B6W4Y7Q3M5N8P1R`: a prefix naming the kind, then a ULID-style body
(48-bit milliseconds + 80 random bits, Crockford base32), so ids sort by creation time and
keyset pagination on `id` alone is newest-first.
"""

from __future__ import annotations

import os
import threading
import time
from typing import NewType

ProjectId = NewType("ProjectId", str)
ApiKeyId = NewType("ApiKeyId", str)
JobId = NewType("JobId", str)

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


_lock = threading.Lock()
_last = (0, 0)


def new_id(prefix: str) -> str:
    """A new `prefix_<26 chars>` id, sortable by creation time.

    Within one process ids are strictly increasing (monotonic ULID: inside the same millisecond
    the random part is incremented); across processes they sort by millisecond.
    """
    global _last
    with _lock:
        millis = int(time.time() * 1000)
        if millis <= _last[0]:
            millis, random_part = _last[0], _last[1] + 1
        else:
            random_part = int.from_bytes(os.urandom(10), "big") >> 1  # headroom for increments
        _last = (millis, random_part)
    value = (millis << 80) | random_part
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return f"{prefix}_{''.join(reversed(chars))}"


# Created by the first migration; keys made without a project and system jobs live here.
DEFAULT_PROJECT_ID = ProjectId("prj_default")
