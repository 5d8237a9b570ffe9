"""The seed's event queue: things that happen to customers, replayed in the order they happened."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime
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
        self.clock.now = self.end
        return count
