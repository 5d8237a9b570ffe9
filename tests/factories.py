"""One way to build test objects, shared by every test."""

from __future__ import annotations

import itertools

from app.auth.models import Role, User
from app.extensions import db

_seq = itertools.count(1)


def make_user(*, role: str = "customer", email: str | None = None, password: str = "a long password 1") -> User:
    from app.auth.service import create_user

    user = create_user(email or f"user{next(_seq)}@example.com", password, Role(role), actor="test")
    db.session.commit()
    return user


def make_customer(*, external_id: str | None = None, email: str | None = None, currency: str = "USD", name: str = ""):
    from app.customers.service import create_customer

    n = next(_seq)
    customer = create_customer(
        external_id or f"cus-{n}",
        email or f"customer{n}@example.com",
        name or f"Customer {n}",
        currency=currency,
        actor="test",
    )
    db.session.commit()
    return customer


def make_plan(
    *,
    code: str | None = None,
    amount_minor: int = 4900,
    currency: str = "USD",
    interval: str = "month",
    trial_days: int = 0,
    limits: dict | None = None,
):
    from app.billing.plans import create_plan

    plan = create_plan(
        code or f"plan-{next(_seq)}",
        "Pro",
        amount_minor,
        currency,
        interval,
        trial_days=trial_days,
        limits=limits if limits is not None else {"seats": 5},
        actor="test",
    )
    db.session.commit()
    return plan


def make_invoice(customer=None, *, amount_minor: int = 4900, currency: str | None = None, now=None):
    from app.billing.invoices import LineInput, create_invoice

    customer = customer or make_customer()
    invoice = create_invoice(
        customer,
        currency or customer.preferred_currency,
        [LineInput("Consulting", amount_minor)],
        actor="test",
        now=now,
    )
    db.session.commit()
    return invoice


def make_subscription(customer=None, plan=None, *, now=None):
    """A subscription and its first invoice (open) on a paid plan without trial."""
    from app.billing.subscriptions import start_subscription

    customer = customer or make_customer()
    plan = plan or make_plan()
    sub, invoice = start_subscription(customer, plan, actor="test", now=now)
    db.session.commit()
    return sub, invoice
