"""Billing-period arithmetic: periods counted from an anchor so month ends do not drift."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, date, datetime, time

from app.billing.models import Interval


def period_end(anchor: datetime, interval: Interval, periods: int) -> datetime:
    """The end of the `periods`-th period after `anchor` (Jan 31 + 1 month = Feb 28, + 2 months = Mar 31).

    dateutil's `anchor + relativedelta(months=n)`, computed directly: renewals call this for every subscription
    of a batch, and relativedelta costs ten times as much (tests/billing/test_periods.py holds them equal)."""
    months = anchor.month - 1 + periods * (12 if interval == Interval.YEAR else 1)
    year, month = anchor.year + months // 12, months % 12 + 1
    return anchor.replace(year=year, month=month, day=min(anchor.day, monthrange(year, month)[1]))


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
