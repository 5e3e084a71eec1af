"""Distinct id types and time-sortable id generation.

Ids look like `job_01J9ZK8T0C2B6W4Y7Q3M5N8P1R`: a prefix naming the kind, then a ULID-style body
(48-bit milliseconds + 80 random bits, Crockford base32), so ids sort by creation time and
keyset pagination on `id` alone is newest-first.
"""

from __future__ import annotations

import base64
import os
import random
import re
import threading
import time
from typing import NewType

ProjectId = NewType("ProjectId", str)
ApiKeyId = NewType("ApiKeyId", str)
JobId = NewType("JobId", str)

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())


_lock = threading.Lock()
_last = (0, 0)
# Ids name rows; they are not secrets (API keys come from `secrets`). So their random part comes
# from a generator seeded from the OS once per process, not from os.urandom per id: os.urandom
# releases the GIL, and taking it back from a busy background writer cost a request up to a
# thread switch interval (5 ms) — the largest wait on the gateway's path (docs/benchmarks.md).
_random = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


def id_pattern(prefix: str) -> str:
    """A regular expression matching exactly the ids `new_id(prefix)` makes."""
    return rf"{re.escape(prefix)}_[{_ALPHABET}]{{26}}"


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
            random_part = _random.getrandbits(79)  # 80 bits less one: headroom for increments
        _last = (millis, random_part)
    # Base32 of the 130-bit value: the last 26 characters of 20 bytes' RFC 4648 encoding, mapped
    # to Crockford's alphabet (the bytes codec does in C what a 26-step divmod loop did in Python).
    body = base64.b32encode(((millis << 80) | random_part).to_bytes(20, "big"))[-26:]
    return f"{prefix}_{body.translate(_TO_CROCKFORD).decode()}"


# Created by the first migration; keys made without a project and system jobs live here.
DEFAULT_PROJECT_ID = ProjectId("prj_default")
