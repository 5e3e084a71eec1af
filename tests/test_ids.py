"""Ids: time-sortable, unique, in the documented alphabet, and different in a forked child."""

from __future__ import annotations

import os
import re
import time

from shipyard.ids import id_pattern, new_id


def test_ids_match_their_pattern_and_increase_strictly() -> None:
    ids = [new_id("job") for _ in range(5000)]
    assert all(re.fullmatch(id_pattern("job"), i) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_the_body_starts_with_the_creation_time_in_crockford_base32() -> None:
    before = int(time.time() * 1000)
    body = new_id("trc").removeprefix("trc_")
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    millis = 0
    for char in body[:10]:  # 10 characters = 50 bits: 2 zero bits, then the 48-bit time
        millis = millis * 32 + alphabet.index(char)
    assert before <= millis <= int(time.time() * 1000) + 1


def test_a_forked_child_draws_other_random_parts() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_id("x").encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    parent = new_id("x")
    # Same millisecond or not, the 80-bit random parts differ (the child reseeded after fork).
    assert child[-16:] != parent[-16:]
