"""Falling back to the free plan when a trial ends unpaid or dunning gives up, and what happens to the bill."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.billing.credit import credit_what_was_paid
from app.billing.invoices import void_invoice
from app.billing.models import Invoice, InvoiceStatus, Subscription
from app.billing.subscriptions import downgrade_to_free
from app.extensions import db


def downgrade_unpaid(sub: Subscription, *, actor: str, reason: str, now: datetime) -> tuple[Subscription, int]:
    """Moves the customer to the free plan and voids the subscription's open invoices: they paid for periods the
    customer no longer gets. Anything already paid on them becomes credit. Returns the free subscription and the
    number of invoices voided. Money that still arrives for a voided invoice is held for the operator's review."""
    open_invoices = db.session.scalars(
        select(Invoice)
        .where(Invoice.subscription_id == sub.id, Invoice.status == InvoiceStatus.OPEN)
        .order_by(Invoice.id)
        .with_for_update()
    ).all()
    for invoice in open_invoices:
        void_invoice(invoice, actor=actor, reason=reason)
        credit_what_was_paid(invoice, actor=actor)
    free_sub = downgrade_to_free(sub, actor=actor, reason=reason, now=now)
    return free_sub, len(open_invoices)
