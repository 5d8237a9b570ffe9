"""Shared steps of the card rail tests: deliver signed events through the app, read what changed."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.ledger.models import LedgerTransaction
from app.notifications.models import OutboxMessage
from app.payments.models import Payment, Refund
from app.payments.stripe.models import StripeEvent


def post_event(client, fake, event: dict, *, timestamp: int | None = None):
    body, header = fake.signed(event, timestamp=timestamp)
    return client.post(
        "/webhooks/stripe", data=body, headers={"Stripe-Signature": header, "Content-Type": "application/json"}
    )


def deliver_new(client, fake, types: tuple[str, ...] | None = None) -> list[int]:
    """Every event the stand-in emitted since the last call, delivered once through the app."""
    return [post_event(client, fake, event).status_code for event in fake.new_events(types)]


def books_snapshot(db) -> dict:
    """Everything a duplicate must not change: rows of money, messages and audit."""
    db.session.rollback()

    def count(model) -> int:
        return db.session.scalar(select(func.count()).select_from(model))

    payments = db.session.execute(
        select(
            Payment.rail_payment_id, Payment.status, Payment.amount_minor, Payment.refunded_minor, Payment.disputed
        ).order_by(Payment.id)
    ).all()
    snapshot = {
        "payments": [tuple(str(v) for v in row) for row in payments],
        "refunds": count(Refund),
        "ledger": count(LedgerTransaction),
        "outbox": count(OutboxMessage),
        "audit": count(AuditEntry),
    }
    db.session.rollback()
    return snapshot


def event_rows(db) -> list[StripeEvent]:
    db.session.rollback()
    return list(db.session.scalars(select(StripeEvent).order_by(StripeEvent.id)))


def pay_checkout(client, fake, invoice, *, save_card: bool = False, card: str = "4242424242424242"):
    """The customer posts the card form, pays on the hosted page; returns the session and the events caused."""
    from tests.conftest import csrf_from

    page = client.get(f"/pay/{invoice.pay_token}/card")
    data = {"csrf_token": csrf_from(page.get_data(as_text=True))}
    if save_card:
        data["save_card"] = "y"
    response = client.post(f"/pay/{invoice.pay_token}/card", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    session_id = response.headers["Location"].rsplit("/", 1)[1]
    with fake.state.lock:
        session, events = fake.state.pay_checkout_session(session_id, card)
    return session, events


def pretty(obj) -> str:
    return json.dumps(obj, indent=2, default=str)


def paid_by_card(client, fake, invoice, *, save_card: bool = False):
    """The invoice paid through Checkout and the customer back on our page; Stripe's events not delivered yet."""
    session, _ = pay_checkout(client, fake, invoice, save_card=save_card)
    response = client.get(f"/pay/{invoice.pay_token}/card/return?session_id={session['id']}")
    assert response.status_code == 303
    return session


def process_all(client, fake):
    """Delivers what the stand-in emitted and runs the drain job's body in this process."""
    from app.payments.stripe.events import process_received_events

    statuses = deliver_new(client, fake)
    assert set(statuses) <= {200}, statuses
    return process_received_events()
