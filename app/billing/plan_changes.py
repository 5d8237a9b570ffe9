"""Changing a customer's plan (an upgrade from free is the usual case).

- A trial switches plan in place and keeps its end date: nothing was paid.
- To the free plan: at once; the unused part of the paid period becomes credit.
- To a paid plan: the new plan starts as its own subscription, incomplete with its first invoice (credit is spent on
  it first), and the current subscription keeps the customer's access until that invoice is paid. Then the current
  one ends, its open invoices are voided (what was paid on them becomes credit), and the unused part of its paid
  period becomes credit. A change that is never paid expires with its invoice and the customer keeps what they had.

Paying for the change before the switch (like Stripe's "pending if incomplete" updates) means no customer loses
access because a card was declined, and no one gets the bigger plan unpaid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.access.events import emit_event
from app.audit.service import record_audit
from app.billing.cancellations import void_open_invoices
from app.billing.credit import apply_credit, issue_credit
from app.billing.models import Invoice, InvoiceStatus, Plan, Subscription, SubscriptionStatus
from app.billing.subscriptions import (
    PlanNotAvailable,
    cancel_subscription,
    downgrade_to_free,
    start_subscription,
    subscription_payload,
)
from app.customers.models import Customer
from app.db_types import utcnow
from app.extensions import db

REASON = "plan_change"


class PlanChangeError(ValueError):
    """The change cannot be made now; the message says what to do instead."""


@dataclass(frozen=True)
class PlanChange:
    #: the subscription on the new plan
    subscription: Subscription
    #: its first invoice, when the change waits for a payment
    invoice: Invoice | None
    #: True while the current subscription still holds the customer's access
    pending: bool


def change_plan(sub: Subscription, plan: Plan, *, actor: str, now: datetime | None = None) -> PlanChange:
    """The caller commits. The customer row is locked, so two changes requested at once run in turn."""
    now = now or utcnow()
    db.session.scalar(select(Customer.id).where(Customer.id == sub.customer_id).with_for_update())
    db.session.refresh(sub)
    _check_change(sub, plan)
    if sub.status == SubscriptionStatus.TRIALING and not plan.is_free:
        previous = sub.plan.code
        sub.plan_id, sub.plan = plan.id, plan
        record_audit("subscription.plan_changed", sub, actor=actor, **{"from": previous, "to": plan.code})
        emit_event("subscription.updated", subscription_payload(sub), event_key=f"plan_change:{sub.id}:{plan.code}")
        return PlanChange(sub, None, pending=False)
    if plan.is_free:
        credit_unused_time(sub, actor=actor, now=now)
        return PlanChange(downgrade_to_free(sub, actor=actor, reason=REASON, now=now), None, pending=False)
    new_sub, invoice = start_subscription(sub.customer, plan, actor=actor, now=now, trial_days=0)
    new_sub.replaces_subscription_id = sub.id
    record_audit("subscription.plan_change_requested", sub, actor=actor, to=plan.code, subscription=new_sub.id)
    apply_credit(invoice, actor=actor, now=now)  # credit that covers it completes the change at once
    return PlanChange(new_sub, invoice, pending=new_sub.status == SubscriptionStatus.INCOMPLETE)


def _check_change(sub: Subscription, plan: Plan) -> None:
    if not plan.active:
        raise PlanNotAvailable(f"plan {plan.code!r} is no longer offered")
    if sub.plan_id == plan.id:
        raise PlanChangeError(f"subscription {sub.id} is already on plan {plan.code!r}")
    if sub.status == SubscriptionStatus.CANCELED:
        raise PlanChangeError(f"subscription {sub.id} is canceled; start a new subscription instead")
    if sub.status == SubscriptionStatus.INCOMPLETE:
        raise PlanChangeError(
            f"subscription {sub.id} has not started (its first invoice is unpaid); cancel it and subscribe to "
            f"{plan.code!r} instead"
        )
    if sub.status == SubscriptionStatus.PAST_DUE:
        raise PlanChangeError(
            f"subscription {sub.id} is past due: its open invoice must be paid before the plan changes"
        )
    waiting = pending_change(sub)
    if waiting is not None:
        raise PlanChangeError(
            f"a change to {waiting.plan.code!r} (subscription {waiting.id}) is waiting for its first invoice; "
            "cancel it first"
        )


def pending_change(sub: Subscription) -> Subscription | None:
    """The change to another plan waiting for payment, if any."""
    return db.session.scalar(
        select(Subscription).where(
            Subscription.replaces_subscription_id == sub.id, Subscription.status == SubscriptionStatus.INCOMPLETE
        )
    )


def complete_plan_change(new_sub: Subscription, *, actor: str, now: datetime | None = None) -> None:
    """The new plan's first invoice is paid (called from apply_paid_invoice): the replaced subscription ends."""
    old = db.session.get(Subscription, new_sub.replaces_subscription_id)
    if old is None or old.status == SubscriptionStatus.CANCELED:
        return
    now = now or utcnow()
    credit_unused_time(old, actor=actor, now=now)
    void_open_invoices(old, actor=actor, reason=REASON)  # e.g. a renewal of the old plan issued while it waited
    cancel_subscription(old, actor=actor, reason=REASON, now=now)


def credit_unused_time(sub: Subscription, *, actor: str, now: datetime) -> int:
    """The paid, unused rest of the current period as credit (rounded down to the minor unit); returns it.

    Only an active subscription has a paid current period: a trial or a past-due one has nothing to give back."""
    plan = sub.plan
    if plan.is_free or sub.status != SubscriptionStatus.ACTIVE or sub.current_period_end <= now:
        return 0
    # what this period was billed at (the plan's price may have changed since), else today's price
    period_invoice = db.session.scalar(
        select(Invoice).where(
            Invoice.subscription_id == sub.id,
            Invoice.period_start == sub.current_period_start,
            Invoice.status == InvoiceStatus.PAID,
        )
    )
    paid_minor, currency = (
        (period_invoice.amount_due_minor, period_invoice.currency)
        if period_invoice
        else (plan.amount_minor, plan.currency)
    )
    length = int((sub.current_period_end - sub.current_period_start).total_seconds())
    unused = int((sub.current_period_end - max(now, sub.current_period_start)).total_seconds())
    amount = paid_minor * unused // length if length > 0 else 0
    if amount <= 0:
        return 0
    return issue_credit(
        sub,
        amount,
        currency,
        key=f"unused:{sub.id}",
        description=f"Unused time on {plan.name} (subscription {sub.id}), kept as credit",
        actor=actor,
        reason=REASON,
    )
