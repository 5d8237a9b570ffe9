"""At-least-once, unordered delivery in; exactly-once effects out: duplicate storms, two real worker processes
racing on the same events, events out of order."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.automation.models import JobRun
from app.billing.models import Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from app.billing.periods import period_end
from app.billing.subscriptions import invoice_for_period
from app.db_types import utcnow
from app.ledger.models import LedgerTransaction
from app.ledger.service import check_books
from app.notifications.models import OutboxMessage
from app.payments.models import Payment
from app.payments.stripe.events import process_received_events
from app.payments.stripe.models import StripeEventStatus
from app.queues import get_queue
from tests.factories import make_invoice, make_unpaid_subscription
from tests.payments.stripe_helpers import event_rows, paid_by_card, pay_checkout, post_event, process_all


def _count(db, model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_duplicate_storm_processed_by_two_racing_workers_settles_each_invoice_once(
    client, db, stripe_fake, run_worker
):
    invoices = [make_invoice(amount_minor=1000 + n) for n in range(4)]
    for invoice in invoices:
        pay_checkout(client, stripe_fake, invoice)
    events = stripe_fake.new_events()
    # Every event ten times, the whole storm shuffled the way Stripe's retries arrive: no order at all.
    storm = [event for _ in range(10) for event in events]
    storm = storm[1::2] + storm[::2]
    assert {post_event(client, stripe_fake, event).status_code for event in storm} == {200}
    assert len(event_rows(db)) == len(events)
    assert {row.deliveries for row in event_rows(db)} == {10}

    # Both workers must be inside the same event at once: the stand-in holds the first PaymentIntent read until
    # the second worker asks for it too. Then both try to claim it; the database lets one.
    first_pi = next(e for e in events if e["type"] == "charge.succeeded")["data"]["object"]["payment_intent"]
    stripe_fake.rendezvous(f"/v1/payment_intents/{first_pi}")
    get_queue().enqueue("workers.jobs.stripe_events", description="stripe_events")  # the webhook queued the first
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run_worker(), range(2)))
    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    assert stripe_fake.met == [f"/v1/payment_intents/{first_pi}"]

    rows = event_rows(db)
    assert {row.status for row in rows} <= {StripeEventStatus.PROCESSED, StripeEventStatus.IGNORED}
    assert {row.attempts for row in rows} == {1}  # each event claimed once, by one worker
    runs = db.session.scalars(select(JobRun).where(JobRun.job_name == "stripe_events")).all()
    assert len(runs) == 2 and sum(sum(r.summary.values()) for r in runs) >= len(events)
    for invoice in invoices:
        db.session.rollback()
        assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.PAID
        assert _count(db, Payment, Payment.invoice_id == invoice.id) == 1
        assert _count(db, LedgerTransaction, LedgerTransaction.invoice_id == invoice.id) == 2  # issued, settled
        assert _count(db, OutboxMessage, OutboxMessage.dedupe_key.like("receipt:%")) == len(invoices)
    assert _count(db, AuditEntry, AuditEntry.action == "payment.settled") == len(invoices)
    assert check_books() == []


def test_a_late_failure_event_after_the_success_does_not_start_dunning(client, db, stripe_fake):
    sub, first = make_unpaid_subscription(now=utcnow() - timedelta(days=32))
    paid_by_card(client, stripe_fake, first)
    process_all(client, stripe_fake)
    db.session.rollback()
    sub = db.session.get(Subscription, sub.id)
    renewal = invoice_for_period(
        sub, sub.current_period_end, period_end(sub.billing_anchor, sub.plan.interval, 2), actor="test"
    )
    db.session.commit()
    # On Stripe's page the first card is declined, the second goes through (one PaymentIntent, two attempts) ...
    session, declined = pay_checkout(client, stripe_fake, renewal, card="4000000000000002")
    with stripe_fake.state.lock:
        _, succeeded = stripe_fake.state.pay_checkout_session(session["id"], "4242424242424242")
    stripe_fake.new_events()
    # ... and the events arrive success first, failure last.
    for event in succeeded + declined:
        assert post_event(client, stripe_fake, event).status_code == 200
    process_received_events()
    db.session.rollback()
    assert db.session.get(Invoice, renewal.id).status == InvoiceStatus.PAID
    sub = db.session.get(Subscription, sub.id)
    assert sub.status == SubscriptionStatus.ACTIVE and sub.past_due_since is None
    failed = next(r for r in event_rows(db) if r.type == "payment_intent.payment_failed")
    assert failed.status == StripeEventStatus.PROCESSED and failed.result.startswith("already settled")


def test_stripe_billing_events_are_recorded_as_not_applicable_and_change_nothing(client, db, stripe_fake):
    invoice = make_invoice()
    for event_type, obj in (
        ("invoice.paid", {"id": "in_1", "object": "invoice", "subscription": "sub_1", "amount_paid": 4900}),
        ("invoice.payment_failed", {"id": "in_2", "object": "invoice", "attempt_count": 2}),
        ("customer.subscription.deleted", {"id": "sub_1", "object": "subscription", "status": "canceled"}),
        ("payout.paid", {"id": "po_1", "object": "payout"}),
    ):
        post_event(client, stripe_fake, stripe_fake.state.emit(event_type, obj))
    audit_before = _count(db, AuditEntry)
    process_received_events()
    statuses = {row.type: row.status for row in event_rows(db)}
    assert statuses == {
        "invoice.paid": StripeEventStatus.NOT_APPLICABLE,
        "invoice.payment_failed": StripeEventStatus.NOT_APPLICABLE,
        "customer.subscription.deleted": StripeEventStatus.NOT_APPLICABLE,
        "payout.paid": StripeEventStatus.IGNORED,
    }
    assert _count(db, AuditEntry) == audit_before
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.OPEN
    assert stripe_fake.requests == []  # nothing to read back for these


def test_a_payment_for_no_invoice_of_ours_is_kept_and_shown(operator_client, db, stripe_fake):
    with stripe_fake.state.lock:
        stripe_fake.state.create_payment_intent(
            {
                "amount": 700,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": "true",
                "metadata": {"advancia_invoice": "ADV99999999"},
            }
        )
    process_all(operator_client, stripe_fake)
    row = next(r for r in event_rows(db) if r.type == "payment_intent.succeeded")
    assert row.status == StripeEventStatus.UNMATCHED and "'ADV99999999'" in row.result
    assert _count(db, Payment) == 0
    page = operator_client.get("/payments/stripe-events?status=unmatched").get_data(as_text=True)
    assert row.stripe_event_id in page and "names no invoice of ours" in page
