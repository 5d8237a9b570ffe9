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


def make_api_token(name: str = "test script"):
    """(row, token)."""
    from app.access.tokens import create_api_token

    row, token = create_api_token(name, actor="test")
    db.session.commit()
    return row, token


def make_webhook_endpoint(*, url: str = "http://127.0.0.1:9/hooks", events: list[str] | None = None):
    from app.access.endpoints import create_endpoint

    endpoint = create_endpoint(url, events or [], actor="test")
    db.session.commit()
    return endpoint


def make_settled_payment(invoice, amount_minor: int | None = None, *, rail: str = "wire", reference: str | None = None):
    """Settles a payment on `invoice` through the one settlement path (which queues the receipt email)."""
    from app.payments.models import Rail
    from app.payments.settlement import IncomingPayment, settle_payment

    amount = invoice.amount_remaining_minor if amount_minor is None else amount_minor
    result = settle_payment(
        invoice.id,
        IncomingPayment(
            rail=Rail(rail),
            rail_payment_id=reference or f"REF-{next(_seq)}",
            amount_received_minor=amount,
            currency_received=invoice.currency,
            amount_minor=amount,
        ),
        actor="test",
    )
    db.session.commit()
    return result.payment


def make_email(*, to: str | None = None, template: str = "trial_ended", context: dict | None = None, **kwargs):
    """One queued outbox email, committed; the context defaults to the template's documented example."""
    from app.notifications.catalog import TEMPLATES
    from app.notifications.outbox import queue_email

    n = next(_seq)
    message = queue_email(
        to=to or f"reader{n}@example.com",
        subject=kwargs.pop("subject", f"Test message {n}"),
        template=template,
        context=context if context is not None else dict(TEMPLATES[template].example),
        dedupe_key=kwargs.pop("dedupe_key", f"test:{n}"),
        **kwargs,
    )
    db.session.commit()
    return message


def pay_in_cash(invoice, amount_minor: int | None = None, *, reference: str | None = None):
    """Settles `amount_minor` (default: what is still owed) on the invoice through the one settlement path."""
    from app.payments.models import Rail
    from app.payments.settlement import IncomingPayment, settle_payment

    amount = invoice.amount_remaining_minor if amount_minor is None else amount_minor
    result = settle_payment(
        invoice.id,
        IncomingPayment(
            rail=Rail.CASH,
            rail_payment_id=reference or f"cash-{next(_seq)}",
            amount_received_minor=amount,
            currency_received=invoice.currency,
            amount_minor=amount,
        ),
        actor="test",
    )
    db.session.commit()
    return result


def make_subscription(customer=None, plan=None, *, now=None, paid: bool = True):
    """A subscription started at `now`; paid=True pays its first invoice so it is active for one period."""
    from app.billing.subscriptions import start_subscription

    customer = customer or make_customer()
    plan = plan or make_plan()
    sub, invoice = start_subscription(customer, plan, actor="test", now=now)
    db.session.commit()
    if paid and invoice is not None:
        pay_in_cash(invoice)
        db.session.refresh(sub)
    return sub


def make_manual_payment(
    invoice, amount: str, *, reference: str | None = None, method: str = "cash", actor: str = "test"
):
    """A payment recorded through the manual rail (and so through settlement), committed."""
    from app.payments.manual import ManualPayment, record_manual_payment

    result = record_manual_payment(
        invoice.id, ManualPayment(method=method, amount=amount, reference=reference or f"REF-{next(_seq)}"), actor=actor
    )
    db.session.commit()
    return result.payment


def make_unpaid_subscription(customer=None, plan=None, *, now=None):
    """A subscription and its first invoice, still open, on a paid plan without trial: (sub, invoice)."""
    from app.billing.subscriptions import start_subscription

    customer = customer or make_customer()
    plan = plan or make_plan()
    sub, invoice = start_subscription(customer, plan, actor="test", now=now)
    db.session.commit()
    return sub, invoice
