"""What the operator's product may let a customer do, right now."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, select

from app.billing.models import Subscription, SubscriptionStatus
from app.customers.models import Customer
from app.db_types import utcnow
from app.extensions import db

#: statuses that grant access while the period lasts; past_due keeps access during dunning (grace)
GRANTING = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


def current_subscription(customer: Customer) -> Subscription | None:
    """The customer's live subscription: the newest one that is not canceled, preferring one that grants access
    (a plan change waiting for payment is newer than the subscription still in force, see billing/plan_changes)."""
    return db.session.scalar(
        select(Subscription)
        .where(Subscription.customer_id == customer.id, Subscription.status != SubscriptionStatus.CANCELED)
        .order_by(
            case((Subscription.status.in_(GRANTING), 0), else_=1),
            Subscription.created_at.desc(),
            Subscription.id.desc(),
        )
        .limit(1)
    )


def entitlement_for(customer: Customer, now: datetime | None = None) -> dict:
    now = now or utcnow()
    sub = current_subscription(customer)
    if sub is None:
        return {
            "customer": customer.external_id,
            "active": False,
            "plan": None,
            "status": None,
            "limits": {},
            "paid_until": None,
            "trial_ends": None,
        }
    in_period = sub.plan.is_free or sub.current_period_end > now
    # Past due keeps access through dunning: the customer is warned, then downgraded, never cut off silently.
    active = sub.status in GRANTING and (in_period or sub.status == SubscriptionStatus.PAST_DUE)
    return {
        "customer": customer.external_id,
        "active": active,
        "plan": sub.plan.code,
        "status": sub.status.value,
        "limits": sub.plan.limits,
        "paid_until": None
        if sub.plan.is_free or sub.status in (SubscriptionStatus.TRIALING, SubscriptionStatus.INCOMPLETE)
        else sub.current_period_end.isoformat(),
        "trial_ends": sub.trial_end.isoformat() if sub.status == SubscriptionStatus.TRIALING else None,
        "cancel_at_period_end": sub.cancel_at_period_end,
    }
