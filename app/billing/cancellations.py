"""The operator ends a customer's subscription: at the end of the period paid for, or now."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.billing.credit import credit_what_was_paid
from app.billing.invoices import void_invoice
from app.billing.models import Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from app.billing.subscriptions import cancel_subscription
from app.db_types import utcnow
from app.extensions import db


class CancellationError(ValueError):
    pass


def end_subscription(
    sub: Subscription, *, at_period_end: bool, actor: str, reason: str = "operator", now: datetime | None = None
) -> int:
    """In the caller's transaction; returns the number of open invoices voided.

    At period end: only an active paid subscription has a paid period to run out; it keeps access until then.
    Now: access ends at once, and the subscription's open invoices are voided (what was paid on them becomes
    credit), so no customer pays later for a plan they no longer have."""
    now = now or utcnow()
    db.session.refresh(sub, with_for_update=True)  # two operators ending it at once: the second finds it canceled
    if sub.status == SubscriptionStatus.CANCELED:
        raise CancellationError(f"subscription {sub.id} is already canceled")
    if at_period_end:
        if sub.status != SubscriptionStatus.ACTIVE or sub.plan.is_free:
            raise CancellationError(
                f"subscription {sub.id} is {sub.status.value}{' (free)' if sub.plan.is_free else ''}: it has no "
                "paid period to run out; cancel it now instead"
            )
        if sub.cancel_at_period_end:
            raise CancellationError(f"subscription {sub.id} already ends on {sub.current_period_end:%Y-%m-%d}")
        cancel_subscription(sub, actor=actor, reason=reason, at_period_end=True, now=now)
        return 0
    voided = void_open_invoices(sub, actor=actor, reason=reason)
    cancel_subscription(sub, actor=actor, reason=reason, now=now)
    return voided


def void_open_invoices(sub: Subscription, *, actor: str, reason: str) -> int:
    """The subscription's open invoices bill for periods the customer no longer gets: voided, and anything already
    paid on them becomes credit, so no money is kept for nothing. Money that still arrives for one is held for the
    operator's review. Returns how many."""
    open_invoices = db.session.scalars(
        select(Invoice)
        .where(Invoice.subscription_id == sub.id, Invoice.status == InvoiceStatus.OPEN)
        .order_by(Invoice.id)
        .with_for_update()
    ).all()
    for invoice in open_invoices:
        void_invoice(invoice, actor=actor, reason=reason)
        credit_what_was_paid(invoice, actor=actor)
    return len(open_invoices)
