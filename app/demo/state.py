"""What the seed remembers while it replays history: each customer's habits and live subscription."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from app.billing.models import Plan, Subscription
from app.customers.models import Customer
from app.demo.catalog import Catalog
from app.demo.clock import HistoryClock
from app.demo.market import Market
from app.demo.rails import Cashier
from app.demo.timeline import Timeline
from app.payments.models import Rail


@dataclass
class Change:
    """Decided during a period, carried out at its end: a cancellation, or a move to another plan."""

    kind: str  # "cancel" | "upgrade" | "downgrade"
    plan: Plan | None = None
    reason: str | None = None
    feedback: str | None = None
    to_free: bool = False


@dataclass
class Member:
    customer: Customer
    rail: Rail
    sub: Subscription | None = None
    #: bumped whenever the live subscription is replaced, so events scheduled for the old one do nothing
    generation: int = 0
    had_trial: bool = False
    pending: Change | None = None
    #: their card keeps being declined (a guaranteed dunning case)
    card_keeps_failing: bool = False

    def replace(self, sub: Subscription | None) -> None:
        self.sub = sub
        self.generation += 1
        self.pending = None


#: moments every demo shows, whatever its size: each is taken once, the first time the replay can host it
GUARANTEED = {
    "late_money": 2,  # money for an expired or voided invoice, held for the operator's review
    "overdue_today": 2,  # transfers that have not come: invoices overdue today
    "declined_near_end": 2,  # cards declined in the last days, so dunning is in progress today
    "dispute": 2,
    "refund_full": 1,
    "refund_partial": 1,
    "overpayment": 2,
    "trial_soon": 2,  # trials ending in the coming week
}


@dataclass
class Business:
    rng: random.Random
    clock: HistoryClock
    timeline: Timeline
    market: Market
    cashier: Cashier
    catalog: Catalog
    start: datetime
    end: datetime
    #: what happened, for the seed's report
    tally: Counter = field(default_factory=Counter)
    #: (subscription id, period end) already planned, so a period is planned once
    planned: set[tuple[int, datetime]] = field(default_factory=set)
    #: called when a payment moves a subscription into a new paid period (set by the journeys module)
    on_new_period: Callable[[Business, Member], None] | None = None
    quota: Counter = field(default_factory=lambda: Counter(GUARANTEED))
    #: every enabled rail is given to one of the first paying customers, so even a small demo shows them all
    rails_to_show: list[Rail] = field(default_factory=list)

    def take(self, moment: str, possible: bool = True) -> bool:
        """True (once per unit of quota) when a guaranteed moment can happen here."""
        if possible and self.quota[moment] > 0:
            self.quota[moment] -= 1
            return True
        return False

    def live(self, member: Member, generation: int) -> Subscription | None:
        """The member's subscription if the event was scheduled for it, else None (the event is stale)."""
        return member.sub if member.generation == generation else None
