"""A project's LLM budget, as the API answers and `shipyard budgets … --json` prints it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from shipyard.llm.budgets import Budget


class BudgetPublic(BaseModel):
    period: Literal["day", "month"]
    max_tokens: int | None
    max_cost: float | None
    used_tokens: int
    used_cost: float
    starts: str
    resets_at: datetime

    @classmethod
    def of(cls, budget: Budget) -> BudgetPublic:
        return cls(**vars(budget))
