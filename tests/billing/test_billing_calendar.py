"""Months of billing on a controlled clock: every scheduled billing job runs at its hour each simulated day (twice,
to prove the second run changes nothing), customers act between the runs, and the books are checked every day.

Alice subscribes, pays, renews monthly for three months paying each, then stops paying: dunning steps 1, 3, 7
and 10, each once, end on the free plan. Bob ignores a one-off invoice (reminders at 3, 7 and 14 days overdue,
then it expires), Carol never pays her first invoice (her subscription is canceled when it expires), Dave's
trial runs out. Some days a job does not run at all; the next run catches up once.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import time_machine
from sqlalchemy import func, select

from app.access.entitlement import entitlement_for
from app.access.models import WebhookDelivery, WebhookEndpoint
from app.billing.dunning import run_dunning
from app.billing.models import Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from app.billing.reminders import run_invoice_auto_send
from app.billing.renewals import run_renewals
from app.billing.trials import end_expired_trials
from app.customers.models import Customer
from app.ledger.models import LedgerTransaction
from app.ledger.service import check_books
from app.notifications.models import OutboxMessage
from app.payments.models import Payment
from tests.factories import make_customer, make_invoice, make_plan, make_subscription, pay_in_cash

#: the schedule's billing jobs (workers/schedule.py) at their hours, UTC
JOBS: tuple[tuple[int, str, Callable], ...] = (
    (2, "subscription_renewals", run_renewals),
    (3, "trial_cleanup", end_expired_trials),
    (9, "dunning", run_dunning),
    (10, "invoice_auto_send", run_invoice_auto_send),
)


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), UTC)


def fingerprint(db) -> tuple:
    """Every row count, and the state the jobs move, so a second run that changes anything is caught."""
    counts = tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Invoice, Subscription, Payment, LedgerTransaction, OutboxMessage, WebhookDelivery)
    )
    subs = db.session.execute(
        select(Subscription.id, Subscription.status, Subscription.dunning_step, Subscription.current_period_end)
    ).all()
    invoices = db.session.execute(
        select(Invoice.id, Invoice.status, Invoice.sent_at, Invoice.reminder_days_sent, Invoice.amount_paid_minor)
    ).all()
    credit = db.session.execute(select(Customer.id, Customer.credit_balance_minor)).all()
    return counts, sorted(subs), sorted(invoices), sorted(credit)


def simulate(db, first: date, last: date, events: dict[datetime, Callable[[], None]], skipped: set) -> None:
    day = first
    while day <= last:
        moments = [(at(day, hour), name, job) for hour, name, job in JOBS if (day, name) not in skipped]
        moments += [(when, "event", action) for when, action in events.items() if when.date() == day]
        for when, name, action in sorted(moments, key=lambda m: m[0]):
            with time_machine.travel(when, tick=False):
                if name == "event":
                    action()
                    continue
                action(when)
                before = fingerprint(db)
                again = action(when)
                assert fingerprint(db) == before, f"{name} changed something on its second run on {day}"
                assert not any(v for v in again.values() if isinstance(v, int)), (name, day, again)
        assert check_books() == [], day
        day += timedelta(days=1)


def emails_by_date(db, customer: Customer) -> list[tuple[str, date, dict]]:
    rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.customer_id == customer.id).order_by(OutboxMessage.id)
    )
    return [(m.payload["template"], m.created_at.date(), m.payload["context"]) for m in rows]


def test_months_of_renewals_reminders_and_dunning_on_a_controlled_clock(db):
    people: dict = {}

    def open_invoice_of(customer: Customer) -> Invoice:
        return db.session.scalar(
            select(Invoice).where(Invoice.customer_id == customer.id, Invoice.status == InvoiceStatus.OPEN)
        )

    def alice_subscribes():
        db.session.add(WebhookEndpoint(url="http://127.0.0.1:9/hook", secret="whsec_test", events=[]))
        people["plan"] = make_plan(code="pro", amount_minor=4900)
        people["alice"] = make_customer(external_id="alice", name="Alice")
        people["alice_sub"] = make_subscription(people["alice"], people["plan"], paid=False)

    def alice_pays():
        pay_in_cash(open_invoice_of(people["alice"]))

    def bob_is_invoiced():
        people["bob"] = make_customer(external_id="bob", name="Bob")
        people["bob_invoice"] = make_invoice(people["bob"], amount_minor=25000)

    def dave_starts_a_trial():
        people["dave"] = make_customer(external_id="dave", name="Dave")
        people["dave_sub"] = make_subscription(people["dave"], make_plan(code="trial", trial_days=14))

    def carol_subscribes():
        people["carol"] = make_customer(external_id="carol", name="Carol")
        people["carol_sub"] = make_subscription(people["carol"], people["plan"], paid=False)

    events = {
        datetime(2027, 1, 31, 12, tzinfo=UTC): alice_subscribes,
        datetime(2027, 1, 31, 13, tzinfo=UTC): alice_pays,
        datetime(2027, 2, 3, 15, tzinfo=UTC): bob_is_invoiced,
        datetime(2027, 2, 5, 11, tzinfo=UTC): dave_starts_a_trial,
        datetime(2027, 2, 10, 16, tzinfo=UTC): carol_subscribes,
        # Alice pays each renewal the day its invoice arrives, after it was sent at 10:00
        datetime(2027, 3, 1, 12, tzinfo=UTC): alice_pays,
        datetime(2027, 4, 2, 12, tzinfo=UTC): alice_pays,
        datetime(2027, 5, 1, 12, tzinfo=UTC): alice_pays,
        # ...and from June on she stops paying
    }
    skipped = {
        (date(2027, 4, 1), "subscription_renewals"),  # the worker was down: Alice's renewal comes a day late
        (date(2027, 4, 1), "invoice_auto_send"),
        (date(2027, 2, 24), "invoice_auto_send"),  # Bob's 7-day reminder day
        (date(2027, 2, 20), "trial_cleanup"),  # Dave's trial ended on the 19th at 11:00
    }

    simulate(db, date(2027, 1, 31), date(2027, 6, 14), events, skipped)

    alice, bob, carol, dave = (people[name] for name in ("alice", "bob", "carol", "dave"))
    # Alice: three renewals paid, the fourth dunned to the free plan, each step once on its day.
    invoices = db.session.scalars(select(Invoice).where(Invoice.customer_id == alice.id).order_by(Invoice.id)).all()
    assert [(i.period_start.date(), i.status) for i in invoices] == [
        (date(2027, 1, 31), InvoiceStatus.PAID),
        (date(2027, 2, 28), InvoiceStatus.PAID),
        (date(2027, 3, 31), InvoiceStatus.PAID),
        (date(2027, 4, 30), InvoiceStatus.PAID),
        (date(2027, 5, 31), InvoiceStatus.VOID),
    ]
    assert [i.issued_at.date() for i in invoices[1:]] == [
        date(2027, 3, 1),
        date(2027, 4, 2),  # caught up the day after the missed run, once
        date(2027, 5, 1),
        date(2027, 6, 1),
    ]
    alice_emails = [(template, day) for template, day, _ in emails_by_date(db, alice) if template != "receipt"]
    assert alice_emails == [
        ("invoice", date(2027, 3, 1)),
        ("invoice", date(2027, 4, 2)),
        ("invoice", date(2027, 5, 1)),
        ("invoice", date(2027, 6, 1)),
        ("dunning_retry", date(2027, 6, 2)),
        ("dunning_update_card", date(2027, 6, 4)),
        ("dunning_final_warning", date(2027, 6, 8)),
        ("dunning_downgraded", date(2027, 6, 11)),
    ]
    db.session.refresh(people["alice_sub"])
    assert people["alice_sub"].status == SubscriptionStatus.CANCELED
    access = entitlement_for(alice, datetime(2027, 6, 14, tzinfo=UTC))
    assert access["plan"] == "free" and access["limits"] == {"seats": 1}

    # Bob: reminders at 3, 7 (caught up a day late) and 14 days overdue, then the invoice expired.
    bob_emails = [(template, day) for template, day, _ in emails_by_date(db, bob)]
    assert bob_emails == [
        ("invoice", date(2027, 2, 4)),
        ("payment_reminder", date(2027, 2, 20)),
        ("payment_reminder", date(2027, 2, 25)),
        ("payment_reminder", date(2027, 3, 3)),
    ]
    assert [c["days_overdue"] for t, _, c in emails_by_date(db, bob) if t == "payment_reminder"] == [3, 7, 14]
    db.session.refresh(people["bob_invoice"])
    assert people["bob_invoice"].status == InvoiceStatus.EXPIRED
    assert people["bob_invoice"].reminder_days_sent == 14

    # Carol: her first invoice was reminded, then expired, and the subscription that never started was canceled.
    assert [t for t, _, _ in emails_by_date(db, carol)] == ["invoice"] + ["payment_reminder"] * 3
    db.session.refresh(people["carol_sub"])
    assert people["carol_sub"].status == SubscriptionStatus.CANCELED
    assert people["carol_sub"].canceled_at == datetime(2027, 3, 27, 10, tzinfo=UTC)

    # Dave: the trial ended while cleanup was down; the next run moved him to the free plan, one email.
    assert [(t, day) for t, day, _ in emails_by_date(db, dave)] == [("trial_ended", date(2027, 2, 21))]
    assert entitlement_for(dave, datetime(2027, 3, 1, tzinfo=UTC))["plan"] == "free"

    # Every email the jobs queued renders with the templates' strict context (a missing key would make it dead).
    from app.notifications.models import OutboxKind
    from app.notifications.rendering import render_email

    emails = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.EMAIL)).all()
    assert {m.payload["template"] for m in emails} >= {
        "invoice",
        "payment_reminder",
        "trial_ended",
        "receipt",
        "dunning_retry",
        "dunning_update_card",
        "dunning_final_warning",
        "dunning_downgraded",
    }
    for message in emails:
        rendered = render_email(message)
        assert rendered.text.strip(), message.payload["template"]
