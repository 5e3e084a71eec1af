"""The bounded sandbox: Jinja2's immutable sandbox, plus limits on what one render may cost.

Templates are tenant-supplied, so a render must not take CPU, memory or time from other
projects. Three budgets hold per render (all templates of one prompt version together):

- **operations** — every loop iteration (each `{% for %}` iterates through `Counted`, wired in
  at parse time), every item pulled through a lazy filter, and every sandboxed call, filter,
  test and intercepted operator counts against `MAX_OPERATIONS`, and each checks the deadline,
  `MAX_SECONDS` after the render started;
- **size** — no text or list the template builds may exceed `MAX_CHARS` (as printed). What can
  multiply size — `*`, `**`, `%`, `+`, `~`, string padding and `replace`/`join`/`translate`,
  format specs, the `center`/`indent`/`wordwrap`/`join`/… filters, macro and block buffers — is
  refused from an estimate of its result *before* anything is allocated; other operations
  grow a value by at most a small factor and are stopped at their next use;
- **output** — the caller streams the render and stops once it passes `MAX_CHARS`.

The state of the render in progress lives in a context variable (budget.py): renders run on several threads
at once. Outside a render (compile-time constant folding) the size checks still apply; nothing
is counted. A single C-level step between two checks is bounded by the size limit, so a render
ends within the deadline plus a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial, update_wrapper, wraps
from types import BuiltinMethodType, MethodType
from typing import Any

from jinja2 import Environment, nodes, pass_eval_context
from jinja2.filters import make_attrgetter
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.utils import generate_lorem_ipsum
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from shipyard.prompts.budget import (
    MAX_CHARS,
    Counted,
    check_binop,
    count_of,
    counted,
    limit,
    percent_size,
    size,
    spec_width,
    tick,
)

# --- filters, string methods and globals that can multiply size --------------------------------
# Each takes the arguments of what it guards and refuses an over-limit result, or returns the
# arguments to call it with instead (to count the items of an iterable as it is consumed).

Arguments = tuple[tuple[Any, ...], dict[str, Any]] | None


def _joined(items: Iterable[Any], separator: object) -> Iterator[Any]:
    """`items`, refused once they and the separators between them add up to over the limit."""
    total, gap = 0, size(separator)
    for item in counted(items):
        total += size(item) + gap
        limit(total)
        yield item


def _stringified(value: object, *args: Any, **kwargs: Any) -> Arguments:
    limit(size(value))
    return None


def _center(value: object, width: object = 80) -> Arguments:
    limit(max(size(value), count_of(width)))
    return None


def _indent(s: object, width: object = 4, first: bool = False, blank: bool = False) -> Arguments:
    chars = size(s)
    lines = s.count("\n") + 1 if isinstance(s, str) else chars
    limit(chars + lines * count_of(width))
    return None


def _wordwrap(s: object, width: object = 79, break_long_words: bool = True, wrapstring: object = None,
              break_on_hyphens: bool = True) -> Arguments:  # fmt: skip
    chars = size(s)
    newlines = s.count("\n") if isinstance(s, str) else chars
    lines = 2 * chars // max(count_of(width), 1) + newlines + 1
    limit(chars + lines * max(size(wrapstring) if wrapstring is not None else 1, 1))
    return None


def _replace(s: object, old: object, new: object, count: object = None) -> Arguments:
    limit(size(s) + size(old) + size(new))
    text, old_text, new_text = str(s), str(old), str(new)
    growth = len(new_text) - len(old_text)
    if growth <= 0:
        return None
    found = len(text) // len(old_text) if old_text else len(text) + 1  # at most; counted only if too many
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    if len(text) + found * growth > MAX_CHARS and old_text:
        found = min(found, text.count(old_text))
    limit(len(text) + found * growth)
    return None


def _format(value: object, *args: Any, **kwargs: Any) -> Arguments:
    limit(size(value))
    limit(percent_size(str(value), kwargs or args))
    return None


def _join(
    environment: Environment, value: Iterable[Any], d: object = "", attribute: str | int | None = None
) -> Arguments:
    items = value if attribute is None else map(make_attrgetter(environment, attribute), value)
    return (_joined(items, d), d), {}


def _sum(iterable: Iterable[Any], attribute: str | int | None = None, start: Any = 0) -> Arguments:
    return (counted(iterable), attribute, start), {}


def _batch(value: object, linecount: object, fill_with: object = None) -> Arguments:
    limit(2 * count_of(linecount))
    return None


def _tojson(value: object, indent: object = None) -> Arguments:
    limit(size(value) * max(count_of(indent), 1))
    return None


def _urlize(value: object, trim_url_limit: object = None, nofollow: bool = False, target: object = None,
            rel: object = None, extra_schemes: object = None) -> Arguments:  # fmt: skip
    chars = size(value)
    limit(3 * chars + (chars // 4 + 1) * (size(target) + size(rel) + 40))
    return None


_FILTER_CHECKS: dict[str, Callable[..., Arguments]] = {
    "center": _center, "indent": _indent, "wordwrap": _wordwrap, "replace": _replace, "format": _format,
    "sum": _sum, "batch": _batch, "slice": _batch, "tojson": _tojson, "urlize": _urlize,
    **dict.fromkeys(
        ("string", "upper", "lower", "title", "capitalize", "trim", "truncate", "e", "escape", "forceescape",
         "striptags", "wordcount", "pprint", "safe", "urlencode", "xmlattr"),
        _stringified,
    ),
}  # fmt: skip


def _pad(text: str, width: object = 0, *rest: Any) -> Arguments:
    limit(max(len(text), count_of(width)))
    return None


def _expandtabs(text: str, tabsize: object = 8) -> Arguments:
    limit(len(text) + text.count("\t") * count_of(tabsize))
    return None


def _str_replace(text: str, old: object = "", new: object = "", count: object = -1) -> Arguments:
    return _replace(text, old, new, count)


def _str_join(text: str, iterable: Iterable[Any] = (), *rest: Any) -> Arguments:
    return (_joined(iterable, text), *rest), {}


def _translate(text: str, table: object = None, *rest: Any) -> Arguments:
    longest = max((size(v) for v in table.values()), default=1) if isinstance(table, Mapping) else 1
    limit(len(text) * max(longest, 1))
    return None


_STR_METHOD_CHECKS: dict[str, Callable[..., Arguments]] = {
    "ljust": _pad, "rjust": _pad, "center": _pad, "zfill": _pad, "expandtabs": _expandtabs,
    "replace": _str_replace, "join": _str_join, "translate": _translate,
}  # fmt: skip


def _checked_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The arguments to call `obj` with, after refusing calls whose result would be too large."""
    if isinstance(obj, LoopContext) and args:  # loop(children) of a recursive loop: count them too
        return (counted(args[0]), *args[1:])
    owner = getattr(obj, "__self__", None)
    if isinstance(owner, str) and (check := _STR_METHOD_CHECKS.get(obj.__name__)) is not None:
        replaced = check(owner, *args, **kwargs)
        return args if replaced is None else replaced[0]
    if obj is generate_lorem_ipsum:
        _lipsum(*args, **kwargs)
    return args


def _lipsum(n: object = 5, html: object = True, min: object = 20, max: object = 100) -> None:  # noqa: A002
    limit(12 * count_of(n) * count_of(max))  # `n` paragraphs of up to `max` words


class _Formatter(SandboxedFormatter):
    """`str.format` in the sandbox, refusing fields whose value or width is over the limit and
    stopping once the formatted text passes it."""

    produced = 0

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        limit(size(value))  # before repr()/str()/ascii() of a large list
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        limit(size(value) + spec_width(format_spec))
        text = super().format_field(value, format_spec)
        self.produced += len(text)
        limit(self.produced)
        return text


class _EscapeFormatter(_Formatter, SandboxedEscapeFormatter):
    pass


@pass_eval_context
def _concat(eval_ctx: EvalContext, *values: Any) -> str:
    """The `~` operator, refused when its operands add up to over the limit."""
    limit(sum(size(v) for v in values))
    return markup_join(values) if eval_ctx.autoescape else str_join(values)


class _Bounded(NodeTransformer):
    """Rewrites a parsed template so that loops count their iterations and `~` checks its size."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(nodes.EnvironmentAttribute("counted"), [node.iter], [], None, None,
                               lineno=node.iter.lineno)  # fmt: skip
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        if all(isinstance(n, nodes.Const | nodes.TemplateData) for n in node.nodes):
            return node  # folded at compile time, no larger than the template
        return nodes.Call(nodes.EnvironmentAttribute("bounded_concat"), node.nodes, [], None, None, lineno=node.lineno)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with every loop, call, filter, test and multiplying operator
    counted and size-checked against the render in progress (see the module docstring)."""

    intercepted_binops = frozenset(("+", "*", "**", "%"))

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_finalize, **options)
        self.counted = Counted
        self.bounded_concat = _concat
        self.filters = {name: _bounded_filter(self, name, f) for name, f in self.filters.items()}
        self.tests = {name: _counted_test(f) for name, f in self.tests.items()}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree: nodes.Template = _Bounded().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree

    def concat(self, parts: Iterable[str]) -> str:
        """Joins buffered output (macro bodies, `{% filter %}` and `{% set %}` blocks), size-checked."""
        parts = parts if isinstance(parts, list) else list(parts)
        limit(sum(map(len, parts)))
        return "".join(parts)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        tick()
        result = super().call(context, obj, *_checked_call(obj, args, kwargs), **kwargs)
        return counted(result) if isinstance(result, Iterator) else result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        tick()
        check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format`/`format_map` through the size-checking formatter (Jinja's own logic)."""
        if not isinstance(value, MethodType | BuiltinMethodType) or value.__name__ not in ("format", "format_map"):
            return None
        owner = value.__self__
        if not isinstance(owner, str):
            return None
        by_name = value.__name__ == "format_map"

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            if by_name and (kwargs or len(args) != 1):
                raise TypeError("format_map() takes exactly one positional argument")
            positional, named = ((), args[0]) if by_name else (args, kwargs)
            formatter = _EscapeFormatter(self, escape=owner.escape) if isinstance(owner, Markup) else _Formatter(self)
            return type(owner)(formatter.vformat(owner, positional, named))

        return update_wrapper(bounded_format, value)


def _finalize(value: Any) -> Any:
    """Every `{{ … }}` value, refused before it is turned into text if that would be too large."""
    limit(len(value) if value.__class__ is str else size(value))
    return value


def _bounded_filter(environment: Environment, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    check = partial(_join, environment) if name == "join" else _FILTER_CHECKS.get(name)
    skip = 1 if hasattr(func, "jinja_pass_arg") else 0  # the context/environment Jinja passes first

    @wraps(func)  # keeps jinja_pass_arg, which tells Jinja what to pass
    def bounded(*args: Any, **kwargs: Any) -> Any:
        tick()
        if check is not None:
            replaced = check(*args[skip:], **kwargs)
            if replaced is not None:
                args, kwargs = (*args[:skip], *replaced[0]), replaced[1]
        result = func(*args, **kwargs)
        return counted(result) if isinstance(result, Iterator) else result

    return bounded


def _counted_test(func: Any) -> Callable[..., Any]:
    @wraps(func)
    def test(*args: Any, **kwargs: Any) -> Any:
        tick()
        return func(*args, **kwargs)

    return test
