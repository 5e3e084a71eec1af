"""What one render of a tenant's template may cost, and how the sandbox counts and measures it.

`Budget` is the state of the render in progress: operations done, output written, the deadline.
It lives in a context variable (`CURRENT`), as renders run on several threads at once; outside a
render (compile-time constant folding) nothing is counted. `size` estimates how large a value
prints, without printing it, so that what multiplies size is refused before it allocates.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, KeysView, Mapping, ValuesView
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2.utils import Namespace

# Far above what prompts do (the shipped rag-answer with 50 passages takes 151 operations), far
# below what hurts: 100,000 cheap steps are ~50 ms of CPU.
MAX_OPERATIONS = 100_000
# Wall time of one render. Normal prompts render in about a millisecond; one second bounds what a
# hostile template can hold a shared worker thread for, next to MAX_OPERATIONS' bound on CPU.
MAX_SECONDS = 1.0
# Largest output, and largest text or list a template may build (~250,000 tokens): above the
# context window of most models; what a render may allocate at once is a small multiple of it.
MAX_CHARS = 1_000_000
# Python's own limit on converting an int to text (sys.int_info.default_max_str_digits): a larger
# number cannot be printed anyway, and computing one (`9 ** (10 ** 9)`) costs seconds and gigabytes.
MAX_INT_BITS = 4300 * 10 // 3  # about 4,300 decimal digits

_OPAQUE = 64  # printed size assumed for other objects (`<generator object …>`, macros, numbers)


class RenderLimitExceeded(Exception):
    """A render passed one of its limits; the message names it."""


@dataclass(slots=True)
class Budget:
    """What one render has used so far."""

    deadline: float
    operations: int = 0
    output: int = 0

    def tick(self) -> None:
        self.operations += 1
        if self.operations > MAX_OPERATIONS:
            raise RenderLimitExceeded(f"rendering stopped after {MAX_OPERATIONS} operations (limit)")
        if time.monotonic() > self.deadline:
            raise RenderLimitExceeded(f"rendering stopped after {MAX_SECONDS:g} s (time limit)")

    def add_output(self, chars: int) -> None:
        self.output += chars
        if self.output > MAX_CHARS:
            raise RenderLimitExceeded(f"rendering stopped: the output passed {MAX_CHARS} characters (limit)")


CURRENT: ContextVar[Budget | None] = ContextVar("shipyard_prompt_render", default=None)


def tick() -> None:
    budget = CURRENT.get()
    if budget is not None:
        budget.tick()


class Counted:
    """An iterable whose every item counts as one operation of the render in progress."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = items

    def __iter__(self) -> Iterator[Any]:
        budget = CURRENT.get()
        for item in self._items:
            if budget is not None:
                budget.tick()
            yield item

    def __len__(self) -> int:  # `loop.length` without materialising; TypeError when unknown, as before
        return len(self._items)  # type: ignore[arg-type]

    def __bool__(self) -> bool:  # as the items' (a generator is always true), never len()'s TypeError
        return bool(self._items)


def counted(items: Iterable[Any]) -> Counted:
    return items if isinstance(items, Counted) else Counted(items)


def size(value: object, stop_after: int = MAX_CHARS) -> int:
    """About how many characters `value` prints as; stops counting once past `stop_after`.

    Containers count every item, plus separators and nesting (which `pprint` and `tojson`
    indent), so a list holding one long string many times is as large as it prints.
    """
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() * 3 // 10 + 2
    total, stack = 0, [(value, 0)]
    while stack and total <= stop_after:
        item, depth = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() * 3 // 10 + 2
        elif isinstance(item, Namespace):
            stack.append((object.__getattribute__(item, "_Namespace__attrs"), depth))
        elif isinstance(item, Mapping):
            total += 2 + len(item) * (4 + depth)
            if total <= stop_after:
                stack.extend((part, depth + 1) for pair in item.items() for part in pair)
        elif isinstance(item, list | tuple | set | frozenset | KeysView | ValuesView):
            total += 2 + len(item) * (2 + depth)
            if total <= stop_after:
                stack.extend((child, depth + 1) for child in item)
        else:
            total += _OPAQUE
    return total


def limit(chars: int) -> None:
    """Refuse a result estimated at `chars` characters if that is over `MAX_CHARS`."""
    if chars > MAX_CHARS:
        raise RenderLimitExceeded(
            f"the template would build a text or list of about {chars:,} characters; "
            f"one value may hold at most {MAX_CHARS} (limit)"
        )


def count_of(value: object) -> int:
    """An int argument that sets how much is produced (a width, a repeat count), as a size."""
    if isinstance(value, int):
        return max(value, 0)
    return len(value) if isinstance(value, str) else 0


def _bits(value: int) -> int:
    return abs(value).bit_length()


def check_binop(operator: str, left: Any, right: Any) -> None:
    numbers = isinstance(left, int | float) and isinstance(right, int | float)
    if operator == "+" and not numbers:
        limit(size(left) + size(right))
    elif operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if _bits(left) + _bits(right) > MAX_INT_BITS:
                raise RenderLimitExceeded(f"the template would build a number over {MAX_INT_BITS} bits (limit)")
        elif isinstance(right, int) and not isinstance(left, float):
            limit(size(left) * max(right, 0))
        elif isinstance(left, int) and not isinstance(right, float):
            limit(size(right) * max(left, 0))
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and _bits(left) > 1:
        if _bits(left) * right > MAX_INT_BITS:
            raise RenderLimitExceeded(f"the template would build a number over {MAX_INT_BITS} bits (limit)")
    elif operator == "%" and isinstance(left, str):
        limit(percent_size(left, right))


# One printf-style conversion: %(name)-08.3f, %*d, %%, …
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def percent_size(text: str, values: Any) -> int:
    """An upper bound on the length of `text % values`: widths and precisions, plus every value
    once (every conversion, when they are looked up by name)."""
    specs = _PERCENT_SPEC.findall(text)
    padding = sum(_number(part) for spec in specs for part in spec if part and part != "*")
    if any("*" in spec for spec in specs):
        padding += sum(count_of(v) for v in (values if isinstance(values, tuple) else (values,)) if isinstance(v, int))
    repeat = len(specs) if isinstance(values, Mapping) else 1
    return len(text) + padding + repeat * size(values)


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= 30 else 10**30  # a width in digits that long is over any limit


def spec_width(spec: str) -> int:
    """Widths and precisions in a format spec (`>30`, `.1000f`, `0=12,`), summed."""
    return sum(_number(digits) for digits in re.findall(r"\d+", spec))
