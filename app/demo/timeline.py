"""The seed's event queue: things that happen to customers, replayed in the order they happened."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from app.demo.clock import HistoryClock


class Timeline:
    """Events at or after `end` are the future: they are dropped, leaving today's state as it stands."""

    def __init__(self, clock: HistoryClock, end: datetime) -> None:
        self.clock = clock
        self.end = end
        self._queue: list[tuple[datetime, int, Callable[..., Any], tuple]] = []
        # Ties at one instant run in the order they were scheduled, so replays are identical.
        self._order = itertools.count()

    def at(self, when: datetime, handler: Callable[..., Any], *args: Any) -> None:
        if when < self.end:
            heapq.heappush(self._queue, (max(when, self.clock.now), next(self._order), handler, args))

    def run(self, on_new_month: Callable[[datetime], None] | None = None) -> int:
        """Replays every event; `on_new_month` hears of the first event of each later month (progress)."""
        count = 0
        month = (self.clock.now.year, self.clock.now.month)
        while self._queue:
            when, _, handler, args = heapq.heappop(self._queue)
            if on_new_month and (when.year, when.month) != month:
                month = (when.year, when.month)
                on_new_month(when)
            self.clock.now = when
            handler(*args)
            count += 1
        return count


@cache
def _daily_hour(job_name: str) -> int:
    from workers.schedule import BY_NAME

    minute, hour, *rest = BY_NAME[job_name].cron.split()
    if minute != "0" or not hour.isdigit() or rest != ["*", "*", "*"]:
        raise ValueError(f"{job_name} does not run once a day on the hour: {BY_NAME[job_name].cron}")
    return int(hour)


def daily_run(job_name: str, at_or_after: datetime) -> datetime:
    """When the daily job `job_name` (workers/schedule.py) next runs, at or after the moment given: the seed does
    what each job does, at the hour the job would have done it."""
    run = at_or_after.replace(hour=_daily_hour(job_name), minute=0, second=0, microsecond=0)
    return run if run >= at_or_after else run + timedelta(days=1)


def daily_run_days_after(job_name: str, since: datetime, days: int) -> datetime:
    """The daily job's run on the UTC calendar day `days` after `since`'s: how dunning and reminders count
    ("day 3" is the third calendar day, whatever the hour of the event it counts from)."""
    day = since.astimezone(UTC).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, _daily_hour(job_name), tzinfo=UTC)
