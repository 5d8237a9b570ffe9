"""Billing-period arithmetic: periods counted from an anchor so month ends do not drift."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from dateutil.relativedelta import relativedelta

from app.billing.models import Interval


def period_end(anchor: datetime, interval: Interval, periods: int) -> datetime:
    """The end of the `periods`-th period after `anchor` (Jan 31 + 1 month = Feb 28, + 2 months = Mar 31)."""
    months = periods * (12 if interval == Interval.YEAR else 1)
    return anchor + relativedelta(months=months)


def periods_elapsed(anchor: datetime, interval: Interval, end: datetime) -> int:
    """How many whole periods lie between anchor and `end` (end being a period boundary)."""
    step = 12 if interval == Interval.YEAR else 1
    count = max(0, ((end.year - anchor.year) * 12 + end.month - anchor.month) // step - 1)
    while period_end(anchor, interval, count + 1) <= end:
        count += 1
    return count


def next_period(anchor: datetime, interval: Interval, current_end: datetime) -> tuple[datetime, datetime]:
    n = periods_elapsed(anchor, interval, current_end)
    return current_end, period_end(anchor, interval, n + 1)


def calendar_days(since: datetime, now: datetime) -> int:
    """Whole UTC calendar days from `since` to `now`. The daily jobs count "day 3" this way, so a step falls on
    the same run whatever the hour of the event it counts from."""
    return (now.astimezone(UTC).date() - since.astimezone(UTC).date()).days


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)
