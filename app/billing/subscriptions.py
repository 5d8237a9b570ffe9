"""Subscriptions: starting, activating on payment, moving to past due, cancelling, falling to the free plan."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from app.access.events import emit_event
from app.audit.service import record_audit
from app.billing.invoices import LineInput, create_invoice
from app.billing.models import Invoice, Plan, Subscription, SubscriptionStatus
from app.billing.periods import period_end
from app.billing.plans import free_plan
from app.customers.models import Customer
from app.db_types import utcnow
from app.extensions import db


class IllegalSubscriptionTransition(ValueError):
    pass


#: (current status, action) -> next status
TRANSITIONS: dict[tuple[SubscriptionStatus, str], SubscriptionStatus] = {
    (SubscriptionStatus.INCOMPLETE, "activate"): SubscriptionStatus.ACTIVE,
    (SubscriptionStatus.INCOMPLETE, "cancel"): SubscriptionStatus.CANCELED,
    (SubscriptionStatus.TRIALING, "activate"): SubscriptionStatus.ACTIVE,
    (SubscriptionStatus.ACTIVE, "activate"): SubscriptionStatus.ACTIVE,  # a renewal paid: the period moves on
    (SubscriptionStatus.PAST_DUE, "activate"): SubscriptionStatus.ACTIVE,
    (SubscriptionStatus.ACTIVE, "fall_past_due"): SubscriptionStatus.PAST_DUE,
    (SubscriptionStatus.TRIALING, "fall_past_due"): SubscriptionStatus.PAST_DUE,
    (SubscriptionStatus.TRIALING, "cancel"): SubscriptionStatus.CANCELED,
    (SubscriptionStatus.ACTIVE, "cancel"): SubscriptionStatus.CANCELED,
    (SubscriptionStatus.PAST_DUE, "cancel"): SubscriptionStatus.CANCELED,
}


def _move(sub: Subscription, action: str, *, actor: str, **details) -> SubscriptionStatus:
    target = TRANSITIONS.get((sub.status, action))
    if target is None:
        raise IllegalSubscriptionTransition(f"subscription {sub.id} is {sub.status.value}; cannot {action}")
    previous = sub.status
    sub.status = target
    record_audit(f"subscription.{action}", sub, actor=actor, **{"from": previous.value, "to": target.value}, **details)
    return previous


def subscription_payload(sub: Subscription) -> dict:
    return {
        "id": sub.id,
        "customer": sub.customer.external_id,
        "plan": sub.plan.code,
        "status": sub.status.value,
        "current_period_end": sub.current_period_end.isoformat(),
        "limits": sub.plan.limits,
    }


def start_subscription(
    customer: Customer,
    plan: Plan,
    *,
    actor: str,
    now: datetime | None = None,
    trial_days: int | None = None,
) -> tuple[Subscription, Invoice | None]:
    """Trialing when the plan has trial days; free plans are active at once; otherwise the subscription is
    incomplete, its first invoice is due, and it turns active when that is paid.

    `trial_days` overrides the plan's: 0 for a customer who already had their trial (an upgrade, a return)."""
    now = now or utcnow()
    trial_days = plan.trial_days if trial_days is None else trial_days
    if trial_days < 0:
        raise ValueError("trial days must not be negative")
    if trial_days:
        sub = Subscription(
            customer_id=customer.id,
            plan_id=plan.id,
            status=SubscriptionStatus.TRIALING,
            billing_anchor=now + timedelta(days=trial_days),
            current_period_start=now,
            current_period_end=now + timedelta(days=trial_days),
            trial_end=now + timedelta(days=trial_days),
        )
    else:
        status = SubscriptionStatus.ACTIVE if plan.is_free else SubscriptionStatus.INCOMPLETE
        sub = Subscription(
            customer_id=customer.id,
            plan_id=plan.id,
            status=status,
            billing_anchor=now,
            current_period_start=now,
            current_period_end=period_end(now, plan.interval, 1) if plan.is_free else now,
        )
    sub.customer, sub.plan = customer, plan
    db.session.add(sub)
    db.session.flush()
    record_audit("subscription.started", sub, actor=actor, plan=plan.code, status=sub.status.value)
    invoice = None
    if sub.status == SubscriptionStatus.INCOMPLETE:
        invoice = invoice_for_period(sub, now, period_end(now, plan.interval, 1), actor=actor, now=now)
    elif sub.status == SubscriptionStatus.ACTIVE:
        emit_event("subscription.activated", subscription_payload(sub), event_key=f"subscription.activated:{sub.id}")
    return sub, invoice


def invoice_for_period(
    sub: Subscription, start: datetime, end: datetime, *, actor: str, now: datetime | None = None
) -> Invoice:
    plan = sub.plan
    return create_invoice(
        sub.customer,
        plan.currency,
        [LineInput(period_label(plan.name, start, end), plan.amount_minor)],
        actor=actor,
        subscription=sub,
        period=(start, end),
        now=now,
    )


def period_label(plan_name: str, start: datetime, end: datetime) -> str:
    """The invoice line of a subscription period (bulk renewals write the same text)."""
    return f"{plan_name} ({start:%b %d, %Y} – {end:%b %d, %Y})"


def apply_paid_invoice(invoice: Invoice, *, actor: str) -> None:
    """A subscription invoice was paid: the subscription is active through the invoice's period."""
    sub = invoice.subscription
    if sub is None or invoice.period_end is None or sub.status == SubscriptionStatus.CANCELED:
        return
    if sub.plan.is_free:
        return
    was = sub.status
    extended = invoice.period_end > sub.current_period_end or was != SubscriptionStatus.ACTIVE
    if not extended:
        return
    _move(sub, "activate", actor=actor, invoice=invoice.number)
    if invoice.period_end > sub.current_period_end:
        sub.current_period_start, sub.current_period_end = invoice.period_start, invoice.period_end
    sub.past_due_since = None
    sub.dunning_step = 0
    event = "subscription.activated" if was != SubscriptionStatus.ACTIVE else "subscription.updated"
    emit_event(event, subscription_payload(sub), event_key=f"{event}:{sub.id}:{invoice.id}")
    if was == SubscriptionStatus.INCOMPLETE and sub.replaces_subscription_id is not None:
        from app.billing.plan_changes import complete_plan_change

        complete_plan_change(sub, actor=actor, now=invoice.paid_at)


def mark_past_due(sub: Subscription, *, actor: str, now: datetime | None = None) -> None:
    if sub.status == SubscriptionStatus.PAST_DUE:
        return
    _move(sub, "fall_past_due", actor=actor)
    sub.past_due_since = now or utcnow()
    sub.dunning_step = 0
    emit_event(
        "subscription.updated",
        subscription_payload(sub),
        event_key=f"subscription.past_due:{sub.id}:{sub.past_due_since.isoformat()}",
    )


def cancel_subscription(
    sub: Subscription,
    *,
    actor: str,
    reason: str | None = None,
    feedback: str | None = None,
    at_period_end: bool = False,
    now: datetime | None = None,
) -> None:
    now = now or utcnow()
    sub.cancellation_reason, sub.cancellation_feedback = reason, feedback
    if at_period_end and sub.status == SubscriptionStatus.ACTIVE:
        sub.cancel_at_period_end = True
        record_audit("subscription.cancel_scheduled", sub, actor=actor, reason=reason)
        emit_event("subscription.updated", subscription_payload(sub), event_key=f"subscription.cancel_at_end:{sub.id}")
        return
    _move(sub, "cancel", actor=actor, reason=reason)
    sub.canceled_at = now
    emit_event("subscription.canceled", subscription_payload(sub), event_key=f"subscription.canceled:{sub.id}")


def downgrade_to_free(sub: Subscription, *, actor: str, reason: str, now: datetime | None = None) -> Subscription:
    """Ends a trial or an unpaid subscription and starts the free plan; the customer keeps an account."""
    now = now or utcnow()
    cancel_subscription(sub, actor=actor, reason=reason, now=now)
    free_sub, _ = start_subscription(sub.customer, free_plan(), actor=actor, now=now)
    return free_sub


class SubscriptionExists(ValueError):
    """The customer already has a live (not canceled) subscription."""

    def __init__(self, existing: Subscription) -> None:
        super().__init__(
            f"customer {existing.customer.external_id!r} already has subscription {existing.id} "
            f"({existing.plan.code}, {existing.status.value}); cancel it before starting another"
        )
        self.existing = existing


class PlanNotAvailable(ValueError):
    pass


def subscribe(
    customer: Customer, plan: Plan, *, actor: str, now: datetime | None = None
) -> tuple[Subscription, Invoice | None]:
    """start_subscription for callers that may retry (the API): one live subscription per customer, so sending the
    same request twice never bills twice. The customer row is locked so two concurrent requests run in turn."""
    if not plan.active:
        raise PlanNotAvailable(f"plan {plan.code!r} is no longer offered")
    db.session.scalar(select(Customer.id).where(Customer.id == customer.id).with_for_update())
    existing = db.session.scalar(
        select(Subscription)
        .where(Subscription.customer_id == customer.id, Subscription.status != SubscriptionStatus.CANCELED)
        .order_by(Subscription.id.desc())
        .limit(1)
    )
    if existing is not None:
        raise SubscriptionExists(existing)
    return start_subscription(customer, plan, actor=actor, now=now)
