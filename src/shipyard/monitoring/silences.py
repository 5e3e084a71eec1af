"""Silences: for a while, alerts whose labels match send no notification and take no action.

Matchers are `{label: value}` — equal, or, when the value starts with `~`, a regular expression
matched against the whole label value — all of which must match, as in Alertmanager. A silence is
never deleted, only expired (its end moved to now), so the history says who silenced what and why.

Regular expressions are RE2's, the syntax Prometheus and Alertmanager matchers use, run by RE2
itself: it never backtracks, so matching takes time linear in the label value whatever the
pattern, and one tenant's `~(a+)+$` cannot stall the evaluator every project shares. RE2 refuses
what needs backtracking (backreferences, lookarounds), which a silence reports when it is
created. Each pattern is compiled once per process and kept (`_regex`); an evaluation only looks
it up. The size of what is compiled is bounded (`MAX_PROGRAM_SIZE`), since RE2's time is linear
in the input times that size, and so are the matchers a silence has and the silences a project
has at once: an evaluation's work is bounded whatever a tenant writes.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Protocol

import re2
import structlog
from pydantic import Field, WithJsonSchema, field_validator
from sqlalchemy import func, select

from shipyard.errors import InvalidInput, NotFound
from shipyard.ids import ProjectId, new_id
from shipyard.limits import MAX_NOTE_CHARS
from shipyard.monitoring.references import parse_duration
from shipyard.specs import Spec
from shipyard.store import AlertSilenceRow, Database
from shipyard.store.types import utcnow

log = structlog.get_logger(__name__)

MAX_SILENCE = timedelta(days=30)
# Alertmanager's limits on silences are off by default (--silences.max-silences and
# --silences.max-silence-size-bytes): its silences are one team's, while here every project shares
# the evaluator. Real silences have one to five matchers and patterns of a few dozen characters.
MAX_MATCHERS = 20
MAX_MATCHER_LENGTH = 1000  # characters of a label name, value or pattern
MAX_ACTIVE_SILENCES = 1000  # per project, that have not ended
# RE2 instructions a pattern compiles to: most are under 50, `[\p{L}\p{N}]+` is 1,347, `.{1000}`
# (8,004) is refused. Measured: the slowest patterns under it (ones whose DFA runs out of states,
# so RE2 falls back to its NFA) take ~50 ms on a 10,000-character label; typical ones microseconds.
MAX_PROGRAM_SIZE = 2000
# RE2's memory budget per pattern (program and DFA cache; its default is 8 MiB). A program under
# MAX_PROGRAM_SIZE runs as fast in 1 MiB; kept patterns (ours, and re2's own cache of 128) then
# hold at most ~400 MiB even if every one is hostile, a few KiB each in practice.
_RE2_MAX_MEM = 1 << 20
# Compiled patterns kept: more distinct patterns than this in active silences (every project) are
# compiled again when needed — well under a millisecond for most.
_CACHED_PATTERNS = 256


class SilenceNotFound(NotFound):
    code = "silence_not_found"


class _Regex(Protocol):
    def fullmatch(self, text: bytes) -> object | None: ...


@functools.lru_cache(maxsize=_CACHED_PATTERNS)
def _regex(pattern: str) -> _Regex | str:
    """The compiled pattern, or why it is refused (kept too, so a stored pattern that no longer
    compiles is not tried again at every evaluation)."""
    if len(pattern) > MAX_MATCHER_LENGTH:
        return f"the pattern is longer than {MAX_MATCHER_LENGTH:,} characters"
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr; the caller is told
    options.never_capture = True  # a yes or no: capture groups would force RE2's slower engines
    options.max_mem = _RE2_MAX_MEM
    try:
        compiled = re2.compile(pattern.encode(), options)
    except UnicodeEncodeError:
        return "the pattern is not valid Unicode"
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return f"not a regular expression RE2 accepts ({reason}); RE2 has no backreferences or lookarounds"
    if compiled.programsize > MAX_PROGRAM_SIZE:
        return (
            f"the pattern compiles to {compiled.programsize:,} RE2 instructions, more than {MAX_PROGRAM_SIZE:,}: "
            "use fewer or smaller repetitions and classes"
        )
    regex: _Regex = compiled
    return regex


@functools.lru_cache(maxsize=_CACHED_PATTERNS)
def _refused_once(silence_id: str, label: str, reason: str) -> None:
    """Log, once per process, a stored pattern RE2 refuses (written before silences used RE2)."""
    log.warning("silence_matcher_refused", silence=silence_id, label=label, reason=reason)


def _text(value: str) -> bytes:
    # Any str encodes (a lone surrogate too): a label can never make matching raise.
    return value.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether every matcher matches; a stored pattern RE2 refuses matches nothing, so the
        alerts it was meant to hold back notify rather than vanish."""
        for key, expected in self.matchers.items():
            actual = labels.get(key, "")
            if expected.startswith("~"):
                regex = _regex(expected[1:])
                if isinstance(regex, str):
                    _refused_once(self.id, key, regex)
                    return False
                if regex.fullmatch(_text(actual)) is None:
                    return False
            elif actual != expected:
                return False
        return True


def _check_matchers(matchers: dict[str, str]) -> None:
    """InvalidInput naming the first matcher that is not one (RE2 compiles, and caches, each pattern)."""
    if not matchers:
        raise InvalidInput("a silence needs at least one matcher, e.g. alertname=bikes-canary-errors")
    if len(matchers) > MAX_MATCHERS:
        raise InvalidInput(f"a silence has at most {MAX_MATCHERS} matchers, got {len(matchers)}")
    for key, value in matchers.items():
        if not key:
            raise InvalidInput("a matcher needs a label name")
        try:
            key.encode(), value.encode()
        except UnicodeEncodeError:  # a lone surrogate (JSON's "\ud800"): not even an error message can hold it
            raise InvalidInput("a matcher's label name or value is not valid Unicode") from None
        shown = f"{key[:60]}={value[:60]}" + ("…" if len(key) > 60 or len(value) > 60 else "")
        if len(key) > MAX_MATCHER_LENGTH or len(value) > MAX_MATCHER_LENGTH + 1:
            limit = f"{MAX_MATCHER_LENGTH:,} characters"
            raise InvalidInput(f"matcher {shown}: label names, values and patterns are at most {limit}")
        if value.startswith("~") and isinstance(refused := _regex(value[1:]), str):
            raise InvalidInput(f"matcher {shown}: {refused}")


# The API and the CLI take a duration as seconds or text ("30m", "2h", "1d").
Duration = Annotated[timedelta, WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}]})]


class SilenceSpec(Spec):
    """What to hold back, for how long, and why: the API's body, the CLI's arguments. Rules the
    store enforced before the edges did (matchers, duration, a blank comment) stay 400s."""

    matchers: dict[str, str] = Field(description="Label values to match; a value starting with ~ is a regex")
    duration: Duration = Field(default=timedelta(hours=2), description="Seconds or e.g. 30m, 2h, 1d (at most 30d)")
    comment: str = Field(
        min_length=1, max_length=MAX_NOTE_CHARS, description="Why: what the next person on call reads."
    )

    @field_validator("matchers")
    @classmethod
    def _matchers_fit(cls, matchers: dict[str, str]) -> dict[str, str]:
        _check_matchers(matchers)
        return matchers

    @field_validator("duration", mode="before")
    @classmethod
    def _duration_fits(cls, value: Any) -> timedelta:
        duration = value if isinstance(value, timedelta) else timedelta(seconds=parse_duration(value))
        if not timedelta(0) < duration <= MAX_SILENCE:
            raise InvalidInput("a silence lasts more than 0 s and at most 30 days")
        return duration

    @field_validator("comment")
    @classmethod
    def _comment_says_why(cls, comment: str) -> str:
        if not comment.strip():
            raise InvalidInput("say why in a comment (it is what the next person on call reads)")
        return comment


class Silences:
    def __init__(self, database: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = database
        self._clock = clock

    def create(
        self, project_id: ProjectId, spec: SilenceSpec, *, by: str, starts_at: datetime | None = None
    ) -> Silence:
        """Silence alerts matching every matcher for `spec.duration` (at most 30 days)."""
        now = self._clock()
        start = starts_at or now
        row = AlertSilenceRow(id=new_id("sil"), project_id=project_id, matchers=dict(spec.matchers),
                              starts_at=start, ends_at=start + spec.duration, comment=spec.comment, created_by=by,
                              created_at=now)  # fmt: skip
        with self._db.write() as session:
            ongoing = session.scalar(
                select(func.count())
                .select_from(AlertSilenceRow)
                .where(AlertSilenceRow.project_id == project_id, AlertSilenceRow.ends_at > now)
            )
            if (ongoing or 0) >= MAX_ACTIVE_SILENCES:
                raise InvalidInput(
                    f"this project has {MAX_ACTIVE_SILENCES:,} silences that have not ended: expire some first"
                )
            session.add(row)
        return _silence(row)

    def list(self, project_id: ProjectId, *, include_expired: bool = False) -> list[Silence]:
        now = self._clock()
        query = select(AlertSilenceRow).where(AlertSilenceRow.project_id == project_id)
        if not include_expired:
            query = query.where(AlertSilenceRow.ends_at > now)
        with self._db.read() as session:
            return [_silence(r) for r in session.scalars(query.order_by(AlertSilenceRow.id.desc()))]

    def expire(self, project_id: ProjectId, silence_id: str) -> Silence:
        """End a silence now (alerts it held back notify at the next evaluation)."""
        with self._db.write() as session:
            row = session.get(AlertSilenceRow, silence_id)
            if row is None or row.project_id != project_id:
                raise SilenceNotFound(f"no silence {silence_id!r} in this project")
            row.ends_at = min(row.ends_at, self._clock())
            return _silence(row)

    def active(self, project_id: ProjectId, now: datetime | None = None) -> builtins.list[Silence]:
        now = now or self._clock()
        return [s for s in self.list(project_id) if s.active(now)]

    @staticmethod
    def silencing(silences: Sequence[Silence], labels: dict[str, str]) -> str | None:
        """The id of the first silence that matches `labels`, if any."""
        return next((s.id for s in silences if s.matches(labels)), None)


def _silence(row: AlertSilenceRow) -> Silence:
    return Silence(row.id, dict(row.matchers), row.starts_at, row.ends_at, row.comment, row.created_by, row.created_at)
