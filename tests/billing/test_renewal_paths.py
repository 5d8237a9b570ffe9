"""The bulk renewal path writes exactly what the per-row services write, row for row.

Two identical small worlds renew at the same instant, one through the per-row services, one through the batched
run; every row either run wrote is read back with database ids replaced by each world's own positions.
"""

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import func, select

from app.access.models import WebhookDelivery, WebhookEndpoint
from app.audit.models import AuditEntry
from app.billing.models import Invoice, InvoiceLine, Subscription
from app.billing.plans import free_plan
from app.billing.renewals import run_renewals
from app.billing.subscriptions import cancel_subscription
from app.customers.models import Customer
from app.extensions import db
from app.ledger.models import LedgerEntry, LedgerTransaction
from app.ledger.service import check_books
from app.notifications.models import OutboxMessage
from tests.factories import make_customer, make_plan, make_subscription, pay_in_cash

START = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
RENEWAL_RUN = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
WALL = datetime(2027, 3, 1, 2, 0, 7, tzinfo=UTC)  # the wall clock both runs see (created_at, posted_at, at)
TABLES = (Invoice, InvoiceLine, LedgerTransaction, LedgerEntry, AuditEntry, WebhookDelivery, OutboxMessage)


def _build_world(tag: str, plans: dict) -> list[Subscription]:
    """Subscriptions in a fixed order: plain ones, and every case that takes a different turn."""
    subs = []

    def add(plan, *, start=START, currency="USD", overpay=0, card=False, paid=True):
        customer = make_customer(external_id=f"{tag}-{len(subs)}", currency=currency)
        if card:
            customer.stripe_customer_id = f"cus_{tag}_{len(subs)}"
            db.session.commit()
        sub = make_subscription(customer, plan, now=start, paid=False)
        first = db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id))
        if paid and first is not None:
            pay_in_cash(first, first.amount_due_minor + overpay)
        subs.append(sub)
        return sub

    for _ in range(3):
        add(plans["monthly"])
    add(plans["yearly"], start=datetime(2026, 2, 28, 12, tzinfo=UTC))
    add(plans["eur"], currency="EUR")
    add(plans["monthly"], overpay=1000)  # credit short of the renewal
    add(plans["monthly"], overpay=9000)  # credit that pays it
    add(plans["monthly"], card=True)
    cancel_subscription(add(plans["monthly"]), actor="test", at_period_end=True, reason="switching")
    add(plans["monthly"], start=START - timedelta(days=20))  # due earlier: a missed renewal caught up
    add(free_plan())
    add(plans["trial"])
    add(plans["monthly"], paid=False)  # still incomplete: not renewed
    add(plans["monthly"])
    db.session.commit()
    return subs


def _high_water() -> dict:
    return {model: db.session.scalar(select(func.coalesce(func.max(model.id), 0))) for model in TABLES}


def _written(model, since: dict) -> list:
    return list(db.session.scalars(select(model).where(model.id > since[model]).order_by(model.id)))


def _snapshot(subs: list[Subscription], since: dict) -> dict:
    """Everything the run wrote, with ids replaced by positions in the world."""
    sub_pos = {s.id: i for i, s in enumerate(subs)}
    customer_pos = {s.customer_id: i for i, s in enumerate(subs)}
    invoices = _written(Invoice, since)
    base = min(inv.number for inv in invoices)
    inv_pos = {inv.id: ("inv", sub_pos[inv.subscription_id]) for inv in invoices}
    number = {inv.number: inv.number - base for inv in invoices}

    def key(text: str) -> str:
        """Idempotency and event keys: "<kind>:<id>[:<more>]" with the id of an invoice or a subscription."""
        kind, _, rest = text.partition(":")
        head, _, tail = rest.partition(":")
        if kind.startswith("subscription."):
            return f"{kind}:sub{sub_pos[int(head)]}:" + (str(inv_pos.get(int(tail))) if tail.isdigit() else tail)
        return f"{kind}:{inv_pos[int(head)]}:{tail}"

    def numbered(text: str) -> str:
        words = text.split(" ")
        return " ".join(f"#{number[int(w)]}" if w.isdigit() and int(w) in number else w for w in words)

    def data(event_type: str, payload: dict) -> list:
        ids = inv_pos if event_type.startswith("invoice.") else {i: ("sub", p) for i, p in sub_pos.items()}
        normal = {
            "id": ids[payload["id"]],
            "customer": payload["customer"].split("-")[1],
            "number": number.get(payload.get("number")),
            "reference_code": None,
        }
        return sorted((k, normal.get(k, v)) for k, v in payload.items())

    def obj(object_type: str, object_id: str):
        return inv_pos[int(object_id)] if object_type == "invoices" else ("sub", sub_pos[int(object_id)])

    snapshot = {
        "invoices": sorted(
            (
                inv_pos[inv.id],
                customer_pos[inv.customer_id],
                number[inv.number],
                inv.currency,
                inv.amount_due_minor,
                inv.amount_paid_minor,
                inv.status,
                inv.period_start,
                inv.period_end,
                inv.issued_at,
                inv.due_at,
                inv.expires_at,
                inv.paid_at,
                inv.voided_at,
                inv.sent_at,
                inv.reminder_days_sent,
                inv.memo,
                inv.created_at,
                len(inv.pay_token),
                len(inv.reference_code) == 11 and inv.reference_code.startswith("ADV"),
            )
            for inv in invoices
        ),
        "lines": sorted(
            (inv_pos[line.invoice_id], line.description, line.quantity, line.unit_amount_minor, line.amount_minor)
            for line in _written(InvoiceLine, since)
        ),
        "ledger": sorted(
            (
                txn.kind,
                key(txn.idempotency_key),
                inv_pos.get(txn.invoice_id),
                txn.payment_id,
                customer_pos.get(txn.customer_id),
                numbered(txn.description),
                txn.posted_at,
                tuple(
                    sorted(
                        (e.account.value, e.amount_minor, customer_pos.get(e.customer_id), e.currency)
                        for e in txn.entries
                    )
                ),
            )
            for txn in _written(LedgerTransaction, since)
        ),
        "entries": len(_written(LedgerEntry, since)),
        "audit": sorted(
            (
                a.actor,
                a.action,
                obj(a.object_type, a.object_id),
                sorted((k, number.get(v, v) if k in ("number", "invoice") else v) for k, v in a.details.items()),
                a.at,
            )
            for a in _written(AuditEntry, since)
        ),
        "webhooks": sorted(
            (
                d.event_type,
                key(d.event_key),
                d.status,
                d.attempts,
                d.next_attempt_at,
                d.created_at,
                d.payload["type"],
                d.payload["created"],
                d.payload["id"] == d.event_id,
                data(d.event_type, d.payload["data"]),
            )
            for d in _written(WebhookDelivery, since)
        ),
        "outbox": len(_written(OutboxMessage, since)),
        "subscriptions": [
            (
                s.status,
                s.current_period_start,
                s.current_period_end,
                s.past_due_since,
                s.dunning_step,
                s.canceled_at,
                s.cancellation_reason,
                s.updated_at == WALL,
            )
            for s in (db.session.get(Subscription, s.id) for s in subs)
        ],
        "credit": [db.session.get(Customer, s.customer_id).credit_balance_minor for s in subs],
    }
    return snapshot


def test_bulk_renewals_write_the_same_rows_as_the_per_row_services(db):
    db.session.add(WebhookEndpoint(url="http://127.0.0.1:9/hook", secret="whsec_test", events=[]))
    db.session.add(WebhookEndpoint(url="http://127.0.0.1:9/other", secret="whsec_2", events=["invoice.paid"]))
    plans = {
        "monthly": make_plan(code="pro-monthly", amount_minor=4900, limits={"seats": 5}),
        "yearly": make_plan(code="pro-yearly", amount_minor=49000, interval="year"),
        "eur": make_plan(code="pro-eur", amount_minor=4500, currency="EUR"),
        "trial": make_plan(code="pro-trial", trial_days=14),
    }

    per_row_world = _build_world("a", plans)
    since = _high_water()
    with time_machine.travel(WALL, tick=False):
        per_row_summary = run_renewals(RENEWAL_RUN, per_row=True)
    per_row = _snapshot(per_row_world, since)

    bulk_world = _build_world("b", plans)
    since = _high_water()
    with time_machine.travel(WALL, tick=False):
        bulk_summary = run_renewals(RENEWAL_RUN, batch_size=4)
    bulk = _snapshot(bulk_world, since)

    assert per_row_summary == bulk_summary
    assert bulk_summary["invoices_created"] == 10 and bulk_summary["canceled_at_period_end"] == 1
    assert bulk_summary["paid_by_credit"] == 1 and bulk_summary["card_not_charged"] == 1
    for part in per_row:
        assert bulk[part] == per_row[part], part
    assert len(per_row["invoices"]) == 10 and len(per_row["webhooks"]) >= 10
    assert check_books() == []
