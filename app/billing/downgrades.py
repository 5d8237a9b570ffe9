"""Falling back to the free plan when a trial ends unpaid or dunning gives up, and what happens to the bill."""

from __future__ import annotations

from datetime import datetime

from app.billing.cancellations import void_open_invoices
from app.billing.models import Subscription
from app.billing.subscriptions import downgrade_to_free


def downgrade_unpaid(sub: Subscription, *, actor: str, reason: str, now: datetime) -> tuple[Subscription, int]:
    """Moves the customer to the free plan and voids the subscription's open invoices (see void_open_invoices).
    Returns the free subscription and the number of invoices voided."""
    voided = void_open_invoices(sub, actor=actor, reason=reason)
    free_sub = downgrade_to_free(sub, actor=actor, reason=reason, now=now)
    return free_sub, voided
