"""Per-project LLM budgets: tokens and/or cost per UTC day or month; over budget → 429.

Usage is counted in the store (one upsert per LLM call, only for projects that have a budget), so
every API replica, worker and CLI process sees the same totals. When a budget is set, the
period's usage so far is taken from the traces. The check happens before a call and the charge
after it, so calls already in flight when the limit is reached may overshoot it by their own
usage: a budget is a brake, not an exact meter.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Self

from pydantic import Field, model_validator
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.errors import InvalidInput, NotFound, ShipyardError
from shipyard.ids import ProjectId
from shipyard.limits import StoreBigInt
from shipyard.specs import Spec
from shipyard.store import BudgetRow, Database, TraceRow, UsageRow
from shipyard.store.types import utcnow

Period = Literal["day", "month"]
PERIODS: tuple[Period, ...] = ("day", "month")


class BudgetExceeded(ShipyardError):
    code, http_status = "budget_exceeded", 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BudgetNotFound(NotFound):
    code = "budget_not_found"


@dataclass(frozen=True)
class Budget:
    period: Period
    max_tokens: int | None
    max_cost: float | None
    used_tokens: int
    used_cost: float
    starts: str
    resets_at: datetime


def period_bounds(period: Period, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the UTC day or month containing `now`."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + timedelta(days=1)
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


class BudgetSpec(Spec):
    """A period's limits: the API's body, the CLI's options. Either or both."""

    max_tokens: StoreBigInt | None = Field(default=None, description="Input + output tokens per period.")
    max_cost: float | None = Field(
        default=None,
        description="Cost per period, in the price table's currency.",
        json_schema_extra={"exclusiveMinimum": 0},
    )

    @model_validator(mode="after")
    def _limits_fit(self) -> Self:
        if self.max_tokens is None and self.max_cost is None:
            raise ValueError("a budget needs max_tokens, max_cost or both")
        if self.max_cost is not None and not (math.isfinite(self.max_cost) and self.max_cost > 0):
            raise ValueError(f"max_cost must be above 0, got {self.max_cost}")
        return self


class BudgetService:
    def __init__(
        self,
        database: Database,
        *,
        cache_seconds: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
        flush_traces: Callable[[], object] | None = None,
    ) -> None:
        self._db = database
        # Traces are written in batches: flushed before the period's usage is counted from them.
        self._flush_traces = flush_traces
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._limits: dict[str, tuple[float, list[tuple[Period, int | None, float | None]]]] = {}
        self._lock = threading.Lock()

    def set(self, project_id: ProjectId, period: str, spec: BudgetSpec) -> Budget:
        """Create or change a budget. The period's usage so far is counted from the traces."""
        checked = _period(period)
        max_tokens, max_cost = spec.max_tokens, spec.max_cost
        start, _ = period_bounds(checked, self._clock())
        if self._flush_traces is not None:
            self._flush_traces()
        with self._db.write() as session:
            row = session.get(BudgetRow, (project_id, checked))
            if row is None:
                session.add(BudgetRow(project_id=project_id, period=checked, max_tokens=max_tokens,
                                      max_cost=max_cost, updated_at=utcnow()))  # fmt: skip
            else:
                row.max_tokens, row.max_cost, row.updated_at = max_tokens, max_cost, utcnow()
            if session.get(UsageRow, (project_id, checked, start.date().isoformat())) is None:
                tokens, cost = session.execute(
                    select(
                        func.coalesce(func.sum(TraceRow.input_tokens + TraceRow.output_tokens), 0),
                        func.coalesce(func.sum(TraceRow.cost), 0.0),
                    ).where(
                        TraceRow.project_id == project_id, TraceRow.started_at >= start, TraceRow.cache_hit.is_(False)
                    )
                ).one()
                session.add(UsageRow(project_id=project_id, period=checked, starts=start.date().isoformat(),
                                     tokens=int(tokens), cost=float(cost)))  # fmt: skip
        self._forget(project_id)
        return next(b for b in self.budgets(project_id) if b.period == checked)

    def delete(self, project_id: ProjectId, period: str) -> None:
        with self._db.write() as session:
            row = session.get(BudgetRow, (project_id, _period(period)))
            if row is None:
                raise BudgetNotFound(f"this project has no {period} budget")
            session.delete(row)
        self._forget(project_id)

    def budgets(self, project_id: ProjectId) -> list[Budget]:
        now = self._clock()
        with self._db.read() as session:
            rows = session.scalars(select(BudgetRow).where(BudgetRow.project_id == project_id)).all()
            return [
                self._budget(session, project_id, _period(row.period), row.max_tokens, row.max_cost, now)
                for row in rows
            ]

    def check(self, project_id: ProjectId) -> None:
        """Raise `BudgetExceeded` (429, Retry-After = until the period resets) when a budget is spent."""
        limits = self._limits_of(project_id)
        if not limits:
            return
        now = self._clock()
        with self._db.read() as session:
            for period, max_tokens, max_cost in limits:
                budget = self._budget(session, project_id, period, max_tokens, max_cost, now)
                over = _over(budget)
                if over:
                    wait = (budget.resets_at - now).total_seconds()
                    raise BudgetExceeded(
                        f"this project's {period} LLM budget is spent ({over}); it resets at "
                        f"{budget.resets_at.isoformat()}",
                        retry_after=wait,
                    )

    def charge(self, project_id: ProjectId, tokens: int, cost: float) -> None:
        """Add a call's usage to every budget period of the project (no-op without budgets)."""
        limits = self._limits_of(project_id)
        if not limits or (tokens <= 0 and cost <= 0):
            return
        now = self._clock()
        with self._db.write() as session:
            for period, _, _ in limits:
                starts = period_bounds(period, now)[0].date().isoformat()
                _add_usage(session, project_id, period, starts, tokens, cost)

    def _budget(
        self, session: Session, project_id: str, period: Period, max_tokens: int | None, max_cost: float | None,
        now: datetime,
    ) -> Budget:  # fmt: skip
        start, end = period_bounds(period, now)
        usage = session.get(UsageRow, (project_id, period, start.date().isoformat()))
        return Budget(period, max_tokens, max_cost, usage.tokens if usage else 0, usage.cost if usage else 0.0,
                      start.date().isoformat(), end)  # fmt: skip

    def _limits_of(self, project_id: str) -> list[tuple[Period, int | None, float | None]]:
        with self._lock:
            cached = self._limits.get(project_id)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        with self._db.read() as session:
            rows = session.scalars(select(BudgetRow).where(BudgetRow.project_id == project_id)).all()
            limits = [(_period(r.period), r.max_tokens, r.max_cost) for r in rows]
        with self._lock:
            self._limits[project_id] = (time.monotonic() + self._cache_seconds, limits)
        return limits

    def _forget(self, project_id: str) -> None:
        with self._lock:
            self._limits.pop(project_id, None)


def _period(period: str) -> Period:
    if period not in PERIODS:
        raise InvalidInput(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    return "day" if period == "day" else "month"


def _over(budget: Budget) -> str | None:
    if budget.max_tokens is not None and budget.used_tokens >= budget.max_tokens:
        return f"{budget.used_tokens:,} of {budget.max_tokens:,} tokens used"
    if budget.max_cost is not None and budget.used_cost >= budget.max_cost:
        return f"cost {budget.used_cost:.4f} of {budget.max_cost:.4f} used"
    return None


def _add_usage(session: Session, project_id: str, period: str, starts: str, tokens: int, cost: float) -> None:
    """Add to the period's counter, creating it on the period's first call. An atomic UPDATE
    (`tokens = tokens + n`) on both dialects; two processes creating the same row at once is the
    one race, settled by the primary key and a retry as an update."""
    key = (UsageRow.project_id == project_id, UsageRow.period == period, UsageRow.starts == starts)
    increment = {"tokens": UsageRow.tokens + tokens, "cost": UsageRow.cost + cost}
    if session.execute(update(UsageRow).where(*key).values(**increment)).rowcount:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():
            session.add(UsageRow(project_id=project_id, period=period, starts=starts, tokens=tokens, cost=cost))
    except IntegrityError:
        session.execute(update(UsageRow).where(*key).values(**increment))
