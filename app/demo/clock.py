"""The seed's simulated time, and the stamping of rows that services date with the real clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import Session

#: columns whose default (or onupdate) is "now": in a seeded history "now" is the simulated moment
STAMPED_ON_INSERT = ("created_at", "at", "posted_at", "next_attempt_at", "updated_at")
#: moments that state transitions stamp with the wall clock when no `now` is passed down to them
STAMPED_ON_CHANGE = ("paid_at", "voided_at")


class HistoryClock:
    """Advanced by the timeline as it replays events; read when a row needs a date."""

    def __init__(self, start: datetime) -> None:
        self.now = start


@contextmanager
def stamping_history(session: Session, clock: HistoryClock) -> Iterator[None]:
    """While active, new rows get the simulated time instead of the wall clock, and so do updated_at columns.

    Services take `now=` for the dates that carry business meaning; this covers the bookkeeping dates
    (audit entries, ledger postings, outbox rows) that they stamp with their column defaults."""

    def before_flush(session: Session, flush_context, instances) -> None:  # noqa: ANN001
        for obj in session.new:
            for name in STAMPED_ON_INSERT:
                if hasattr(obj, name) and getattr(obj, name) is None:
                    setattr(obj, name, clock.now)
        for obj in session.dirty:
            if hasattr(obj, "updated_at"):
                obj.updated_at = clock.now
            for name in STAMPED_ON_CHANGE:
                # Set by a service to the wall clock, which lies in the simulated future.
                value = getattr(obj, name, None)
                if value is not None and value > clock.now:
                    setattr(obj, name, clock.now)

    event.listen(session, "before_flush", before_flush)
    try:
        yield
    finally:
        event.remove(session, "before_flush", before_flush)
