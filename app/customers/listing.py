"""The customers list: search by name, email or external id, with each customer's current plan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, or_, select

from app.billing.models import Plan, Subscription, SubscriptionStatus
from app.customers.models import Customer
from app.pagination import Page, paginate

PER_PAGE = 25


@dataclass(frozen=True)
class CustomerRow:
    customer: Customer
    subscription: Subscription | None
    plan: Plan | None


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _shown_subscription_id():
    """The live subscription (newest not canceled), or for churned customers their last one."""
    return (
        select(Subscription.id)
        .where(Subscription.customer_id == Customer.id)
        .order_by(
            case((Subscription.status == SubscriptionStatus.CANCELED, 1), else_=0),
            Subscription.created_at.desc(),
            Subscription.id.desc(),
        )
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )


def search_customers(
    query: str = "",
    number: int = 1,
    per_page: int = PER_PAGE,
    *,
    subscription_status: SubscriptionStatus | None = None,
) -> Page[CustomerRow]:
    """`subscription_status` keeps customers whose shown subscription has that status (the dashboard links to
    past_due and trialing)."""
    stmt = (
        select(Customer, Subscription, Plan)
        .outerjoin(Subscription, Subscription.id == _shown_subscription_id())
        .outerjoin(Plan, Plan.id == Subscription.plan_id)
        .order_by(Customer.created_at.desc(), Customer.id.desc())
    )
    if subscription_status is not None:
        stmt = stmt.where(Subscription.status == subscription_status)
    query = query.strip()
    if query:
        pattern = _like_pattern(query)
        stmt = stmt.where(
            or_(
                Customer.name.ilike(pattern, escape="\\"),
                Customer.email.ilike(pattern, escape="\\"),
                Customer.external_id.ilike(pattern, escape="\\"),
            )
        )
    page = paginate(stmt, number, per_page, rows=True)
    return Page(
        items=[CustomerRow(*row) for row in page.items], number=page.number, per_page=per_page, total=page.total
    )
