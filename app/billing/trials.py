"""Trial cleanup, the 03:00 job: trials that ended without a paid invoice move to the free plan, with an email.

A job body: it commits once per batch; a second run finds nothing (the trial is canceled, the customer is on the
free plan), and the email's dedupe key keeps it to one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, select

from app.billing.downgrades import downgrade_unpaid
from app.billing.models import Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from app.extensions import db
from app.notifications.outbox import queue_email

ACTOR = "job:trial_cleanup"


def end_expired_trials(now: datetime, *, batch_size: int = 200, actor: str = ACTOR) -> dict[str, Any]:
    downgraded = voided = 0
    while subs := _expired_batch(now, batch_size):
        for sub in subs:
            trial_plan = sub.plan.name
            free_sub, count = downgrade_unpaid(sub, actor=actor, reason="trial_ended", now=now)
            voided += count
            queue_email(
                to=sub.customer.email,
                subject=f"Your {trial_plan} trial has ended",
                template="trial_ended",
                context={
                    "customer_name": sub.customer.name or sub.customer.email,
                    "plan_name": trial_plan,
                    "free_plan_name": free_sub.plan.name,
                    "trial_ended_at": sub.trial_end.isoformat(),
                },
                dedupe_key=f"trial_ended:{sub.id}",
                customer_id=sub.customer_id,
            )
        downgraded += len(subs)
        db.session.commit()
    return {"trials_ended": downgraded, "invoices_voided": voided}


def _expired_batch(now: datetime, batch_size: int) -> list[Subscription]:
    """Canceling takes a subscription out of the query, so each batch starts from the top again."""
    paid = exists().where(Invoice.subscription_id == Subscription.id, Invoice.status == InvoiceStatus.PAID)
    return list(
        db.session.scalars(
            select(Subscription)
            .where(Subscription.status == SubscriptionStatus.TRIALING, Subscription.trial_end <= now, ~paid)
            .order_by(Subscription.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
    )
