"""Named leases in the store: one holder at a time across processes, renewed by holding on.

Used where exactly one of several workers should do a periodic task (evaluating alert rules):
whoever holds the lease does it; a holder that dies stops renewing and another takes over once
the lease has expired.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from shipyard.store.database import Database
from shipyard.store.models import LeaseRow
from shipyard.store.types import utcnow


def acquire(database: Database, name: str, holder: str, ttl_seconds: float) -> bool:
    """Take or renew lease `name` for `holder`; False while another holder's lease is live."""
    now = utcnow()
    expires = now + timedelta(seconds=ttl_seconds)
    with database.write() as session:
        taken = session.execute(
            update(LeaseRow)
            .where(LeaseRow.name == name, or_(LeaseRow.holder == holder, LeaseRow.expires_at < now))
            .values(holder=holder, expires_at=expires)
        )
        if taken.rowcount:  # type: ignore[attr-defined]
            return True
    try:
        with database.write() as session:
            if session.get(LeaseRow, name) is not None:
                return False
            session.add(LeaseRow(name=name, holder=holder, expires_at=expires))
    except IntegrityError:  # another process created it a moment ago
        return False
    return True


def release(database: Database, name: str, holder: str) -> None:
    with database.write() as session:
        session.execute(
            update(LeaseRow).where(LeaseRow.name == name, LeaseRow.holder == holder).values(expires_at=utcnow())
        )
