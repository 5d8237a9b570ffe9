"""What the operator sees at the top of a customer's page: subscription, access, credit, what is owed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from app.access.entitlement import current_subscription, entitlement_for
from app.billing.models import Invoice, InvoiceStatus, Subscription
from app.billing.plan_changes import pending_change
from app.customers.models import Customer
from app.extensions import db


@dataclass(frozen=True)
class CustomerOverview:
    subscription: Subscription | None
    entitlement: dict
    #: currency -> minor units still owed on open invoices
    open_balance: dict[str, int]
    open_invoices: int
    #: a change to another plan waiting for its first invoice (billing/plan_changes)
    pending_change: Subscription | None = None


def customer_overview(customer: Customer) -> CustomerOverview:
    owed = db.session.execute(
        select(Invoice.currency, func.sum(Invoice.amount_due_minor - Invoice.amount_paid_minor), func.count())
        .where(Invoice.customer_id == customer.id, Invoice.status == InvoiceStatus.OPEN)
        .group_by(Invoice.currency)
    ).all()
    subscription = current_subscription(customer)
    return CustomerOverview(
        subscription=subscription,
        pending_change=pending_change(subscription) if subscription is not None else None,
        entitlement=entitlement_for(customer),
        open_balance={currency: int(amount) for currency, amount, _ in owed},
        open_invoices=sum(int(count) for *_, count in owed),
    )
