"""Silences: for a while, alerts whose labels match send no notification and take no action.

Matchers are `{label: value}` — equal, or a regular expression (Python `re`, whole value) when
the value starts with `~` — all of which must match, as in Alertmanager. A silence is never
deleted, only expired (its end moved to now), so the history says who silenced what and why.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from shipyard.errors import InvalidInput, NotFound
from shipyard.ids import ProjectId, new_id
from shipyard.store import AlertSilenceRow, Database
from shipyard.store.types import utcnow

MAX_SILENCE = timedelta(days=30)


class SilenceNotFound(NotFound):
    code = "silence_not_found"


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
        for key, expected in self.matchers.items():
            actual = labels.get(key, "")
            if expected.startswith("~"):
                if not re.fullmatch(expected[1:], actual):
                    return False
            elif actual != expected:
                return False
        return True


class Silences:
    def __init__(self, database: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = database
        self._clock = clock

    def create(
        self,
        project_id: ProjectId,
        matchers: dict[str, str],
        *,
        duration: timedelta,
        comment: str,
        by: str,
        starts_at: datetime | None = None,
    ) -> Silence:
        """Silence alerts matching every matcher for `duration` (at most 30 days)."""
        if not matchers:
            raise InvalidInput("a silence needs at least one matcher, e.g. alertname=bikes-canary-errors")
        for key, value in matchers.items():
            if not key:
                raise InvalidInput("a matcher needs a label name")
            if value.startswith("~"):
                try:
                    re.compile(value[1:])
                except re.error as exc:
                    raise InvalidInput(f"matcher {key}={value}: not a regular expression ({exc})") from None
        if not timedelta(0) < duration <= MAX_SILENCE:
            raise InvalidInput("a silence lasts more than 0 s and at most 30 days")
        if not comment.strip():
            raise InvalidInput("say why in a comment (it is what the next person on call reads)")
        now = self._clock()
        start = starts_at or now
        row = AlertSilenceRow(id=new_id("sil"), project_id=project_id, matchers=dict(matchers), starts_at=start,
                              ends_at=start + duration, comment=comment, created_by=by, created_at=now)  # fmt: skip
        with self._db.write() as session:
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
