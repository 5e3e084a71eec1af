"""Limits every input is held to, whatever route or command it comes through (docs/auth.md,
"Limits on input").

Integers: what the store's columns hold. PostgreSQL's INTEGER is 32-bit and its BIGINT 64-bit;
SQLite's INTEGER holds 64 bits and its driver raises OverflowError beyond. Every integer a client
sends that reaches a column is a positive version, count or limit, so it is typed `StoreInt` (or
`StoreBigInt` for a BIGINT column) and an out-of-range value is a 422 naming the field on both
dialects, instead of a 500 on one and a "cannot be stored" 400 on the other. Numbers that arrive
inside a string (`/versions/3`, `name@3`) go through `version_number`.

JSON nesting: at most `MAX_JSON_DEPTH` levels of arrays and objects. Deeper bodies are refused
before they are parsed: recursive code (json, pydantic serialisation, our own) fails somewhere
between a few hundred and 1,000 levels, and stored data that deep would break every later read.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from shipyard.errors import InvalidInput, NestingTooDeep

INT_MAX = 2**31 - 1  # PostgreSQL INTEGER: the smaller of the two dialects' INTEGER columns
BIGINT_MAX = 2**63 - 1  # PostgreSQL BIGINT and SQLite INTEGER

# Bounds on the integer inputs that reach a column (versions, counts, limits: all start at 1).
# Not to be narrowed with `= Field(ge=...)` on a field: pydantic then drops these bounds.
StoreInt = Annotated[int, Field(ge=1, le=INT_MAX)]
StoreBigInt = Annotated[int, Field(ge=1, le=BIGINT_MAX)]

# Arrays and objects inside each other. Tensors (a batch of images: 5), MLflow records (3), JSON
# schemas of chat tools (2 per level) stay far below; .NET's System.Text.Json stops at 64 too.
MAX_JSON_DEPTH = 64

_NOT_BRACKETS_OR_QUOTES = bytes(b for b in range(256) if b not in b'[]{}"')
_SCAN_CHUNK = 1 << 20  # brackets and quotes per numpy step: bounds the scan's memory to ~20 MB


# Free text a person writes for another (a description, a reason, a comment): a screenful.
MAX_NOTE_CHARS = 2000


def check_length(what: str, text: str | None, limit: int = MAX_NOTE_CHARS) -> str | None:
    """`text` if it is at most `limit` characters; else InvalidInput naming `what`. Services call
    it, so the CLI and library callers meet the bound the API's schema shows."""
    if text is not None and len(text) > limit:
        raise InvalidInput(f"{what} is at most {limit:,} characters, got {len(text):,}")
    return text


def version_number(text: str, what: str = "version") -> int | None:
    """The number `text` spells (`"3"`), None when it is a name (a label, an alias).

    Raises `InvalidInput` for a number no version can have (0, or past `INT_MAX`). Only ASCII
    digits count: `"²".isdigit()` is true but `int("²")` fails.
    """
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    if not 1 <= number <= INT_MAX:
        raise InvalidInput(f"{what} numbers are 1 to {INT_MAX}, got {text[:30]}")
    return number


def check_json_depth(body: bytes) -> None:
    """Raise `NestingTooDeep` if arrays and objects in `body` nest deeper than `MAX_JSON_DEPTH`.

    A linear scan in C (bytes methods, numpy), not a parse: it must not recurse itself, and it
    costs little next to json.loads. Brackets inside strings do not count. Invalid JSON is left
    for the parser to report, unless its brackets already nest too deep.
    """
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return  # the common case: too few brackets to nest that deep
    if body[:4].count(0):  # UTF-16/32, which json.loads also takes
        body = body.decode(json.detect_encoding(body), errors="replace").encode()
    depth = _max_depth(body)
    if depth > MAX_JSON_DEPTH:
        raise NestingTooDeep(
            f"the JSON nests {depth} levels of arrays and objects; at most {MAX_JSON_DEPTH} are accepted"
        )


def loads(body: bytes) -> Any:
    """`json.loads` of a request body, after `check_json_depth`."""
    check_json_depth(body)
    return json.loads(body)


def _max_depth(body: bytes) -> int:
    """How deep the arrays and objects of `body` nest, ignoring brackets inside strings.

    Escapes go first: backslashes pair up from the left (as the parser reads them), so dropping
    every `\\\\` and then every `\\"` leaves exactly the quotes that open and close strings;
    a bracket after an odd number of those is inside a string.
    """
    import numpy as np

    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = body.translate(None, _NOT_BRACKETS_OR_QUOTES)
    steps_of = np.zeros(256, dtype=np.int8)
    steps_of[[ord("["), ord("{")]], steps_of[[ord("]"), ord("}")]] = 1, -1
    deepest = level = quotes = 0
    for start in range(0, len(marks), _SCAN_CHUNK):
        part = np.frombuffer(marks, dtype=np.uint8, count=min(_SCAN_CHUNK, len(marks) - start), offset=start)
        steps = steps_of[part]
        if quotes % 2 or b'"' in marks[start : start + _SCAN_CHUNK]:
            seen = np.cumsum(part == ord('"'), dtype=np.int64) + quotes
            steps[seen % 2 == 1] = 0  # inside a string
            quotes = int(seen[-1])
        levels = np.cumsum(steps, dtype=np.int64) + level
        deepest, level = max(deepest, int(levels.max())), int(levels[-1])
    return deepest
