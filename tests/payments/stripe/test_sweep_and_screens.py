"""The hourly sweep books what webhooks never brought; the operator sees every event and can run one again."""

from datetime import timedelta

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.automation.models import JobRun, RunOutcome
from app.billing.models import Invoice, InvoiceStatus
from app.db_types import utcnow
from app.ledger.service import check_books
from app.payments.models import Dispute, DisputeStatus, Payment
from app.payments.stripe.events import process_received_events
from app.payments.stripe.models import StripeEventStatus
from app.payments.stripe.sweep import sweep_stripe
from app.queues import get_queue
from tests.conftest import csrf_from
from tests.factories import make_invoice
from tests.payments.stripe_helpers import books_snapshot, event_rows, pay_checkout, post_event, process_all


def test_the_sweep_settles_a_payment_whose_webhooks_were_lost(client, db, stripe_fake, run_worker):
    invoice = make_invoice(amount_minor=2_500)
    session, _ = pay_checkout(client, stripe_fake, invoice)
    stripe_fake.new_events()  # lost: never delivered, and the customer closed the tab before coming back
    get_queue().enqueue("workers.jobs.stripe_sweep", description="stripe_sweep")
    assert run_worker().returncode == 0
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.PAID
    run = db.session.scalar(select(JobRun).where(JobRun.job_name == "stripe_sweep"))
    assert run.outcome == RunOutcome.SUCCEEDED and run.summary["intents_booked"] == 1
    # The next sweep finds nothing new.
    before = books_snapshot(db)
    assert "intents_booked" not in sweep_stripe()
    assert books_snapshot(db) == before


def test_the_sweep_records_a_refund_whose_webhook_was_lost(client, db, stripe_fake):
    invoice = make_invoice()
    pay_checkout(client, stripe_fake, invoice)
    process_all(client, stripe_fake)
    payment = db.session.scalar(select(Payment))
    with stripe_fake.state.lock:
        refund = stripe_fake.state.create_refund({"payment_intent": payment.rail_payment_id, "amount": 900})
    stripe_fake.new_events()  # lost
    assert sweep_stripe()["refunds_booked"] == 1
    db.session.rollback()
    payment = db.session.get(Payment, payment.id)
    assert payment.refunded_minor == 900 and payment.refunds[0].rail_refund_id == refund["id"]


def test_the_sweep_flags_a_dispute_and_clears_it_when_both_webhooks_were_lost(client, db, stripe_fake):
    invoice = make_invoice()
    pay_checkout(client, stripe_fake, invoice)
    process_all(client, stripe_fake)
    payment = db.session.scalar(select(Payment))
    with stripe_fake.state.lock:
        dispute = stripe_fake.state.open_dispute(payment.rail_payment_id)
    stripe_fake.new_events()  # lost
    assert sweep_stripe()["disputes_checked"] == 1
    db.session.rollback()
    assert db.session.get(Payment, payment.id).disputed is True
    # Won weeks later: too old for the sweep's window, found through the payment still flagged open.
    with stripe_fake.state.lock:
        stripe_fake.state.objects[dispute["id"]]["created"] -= 30 * 86400
        stripe_fake.state.close_dispute(dispute["id"], "won")
    stripe_fake.new_events()  # lost too
    sweep_stripe()
    db.session.rollback()
    payment = db.session.get(Payment, payment.id)
    assert payment.disputed is False and payment.dispute_due_by is None
    # The withdrawal and the reinstatement the webhooks never told us of are both in the books.
    row = db.session.scalar(select(Dispute).where(Dispute.rail_dispute_id == dispute["id"]))
    assert (row.status, row.withdrawn_minor, row.reinstated_minor, row.fee_minor) == (
        DisputeStatus.WON,
        payment.amount_minor,
        payment.amount_minor,
        0,
    )
    assert check_books() == []


def test_events_stored_but_never_queued_or_failed_are_processed_by_the_sweep(client, db, stripe_fake):
    invoice = make_invoice()
    pay_checkout(client, stripe_fake, invoice)
    intent_events = stripe_fake.new_events(("payment_intent.succeeded",))
    post_event(client, stripe_fake, intent_events[0])  # stored; its drain job never ran (say Redis lost it)
    stripe_fake.outage = [503, 503, 503]  # and Stripe was down when a worker first tried it
    assert process_received_events() == {"failed": 1}
    [row] = event_rows(db)
    assert row.status == StripeEventStatus.FAILED and "could not read the object's current state" in row.error
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.OPEN
    # Later Stripe answers again: the sweep books the payment from the list, then retries the event, which finds
    # it booked.
    summary = sweep_stripe(utcnow() + timedelta(minutes=10))
    assert (summary["intents_booked"], summary["events_processed"]) == (1, 1)
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.PAID
    [row] = event_rows(db)
    assert row.status == StripeEventStatus.PROCESSED and row.attempts == 2


def test_the_sweep_without_stripe_keys_says_so_and_does_nothing(client, db, app):
    summary = sweep_stripe()
    assert summary["noop"] is True and "STRIPE_SECRET_KEY" in summary["reason"]


def test_the_operator_sees_events_with_their_results_and_payload(operator_client, db, stripe_fake):
    invoice = make_invoice()
    pay_checkout(operator_client, stripe_fake, invoice)
    process_all(operator_client, stripe_fake)
    page = operator_client.get("/payments/stripe-events").get_data(as_text=True)
    assert "Card payments on" in page and "payment_intent.succeeded" in page
    assert "settled $49.00 on invoice" in page and "already settled" in page
    processed = operator_client.get("/payments/stripe-events?status=processed&type=payment_intent.").get_data(
        as_text=True
    )
    assert "payment_intent.succeeded" in processed and "charge.succeeded" not in processed
    assert operator_client.get("/payments/stripe-events?status=bogus").status_code == 400
    row = next(r for r in event_rows(db) if r.type == "payment_intent.succeeded")
    detail = operator_client.get(f"/payments/stripe-events/{row.id}").get_data(as_text=True)
    assert row.stripe_event_id in detail and "&#34;advancia_invoice&#34;: &#34;" + invoice.reference_code in detail
    assert operator_client.get("/payments/stripe-events/999999").status_code == 404


def test_the_operator_reruns_an_unmatched_event_once_its_invoice_exists(operator_client, db, stripe_fake):
    invoice = make_invoice()
    pay_checkout(operator_client, stripe_fake, invoice)
    [event] = stripe_fake.new_events(("payment_intent.succeeded",))
    # The invoice's reference is unknown at first (a typo fixed later, an import that came late).
    reference = invoice.reference_code
    db.session.rollback()  # a fresh transaction (SQLite cannot write from a snapshot older than others' writes)
    db.session.get(Invoice, invoice.id).reference_code = "ADV00000000"
    db.session.commit()
    post_event(operator_client, stripe_fake, event)
    process_received_events()
    [row] = event_rows(db)
    assert row.status == StripeEventStatus.UNMATCHED
    db.session.rollback()
    db.session.get(Invoice, invoice.id).reference_code = reference
    db.session.commit()

    page = operator_client.get("/payments/stripe-events").get_data(as_text=True)
    response = operator_client.post(
        f"/payments/stripe-events/{row.id}/rerun",
        data={"fragment": "row"},
        headers={"HX-Request": "true", "X-CSRFToken": csrf_from(page)},
    )
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert fragment.startswith(f'<tr id="stripe-event-{row.id}">') and "settled $49.00" in fragment
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.PAID
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "stripe_event.rerun")) is not None
    # Running it again from the detail page changes nothing in the books.
    before = books_snapshot(db)
    detail = operator_client.post(
        f"/payments/stripe-events/{row.id}/rerun", headers={"HX-Request": "true", "X-CSRFToken": csrf_from(page)}
    ).get_data(as_text=True)
    assert 'id="event-result"' in detail and "already settled" in detail
    after = books_snapshot(db)
    assert after["audit"] == before["audit"] + 1  # only the re-run itself is recorded
    assert {k: v for k, v in after.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}


def test_the_rerun_button_needs_csrf(operator_client, db, stripe_fake):
    post_event(operator_client, stripe_fake, stripe_fake.state.emit("payout.paid", {"id": "po_1", "object": "payout"}))
    process_received_events()
    [row] = event_rows(db)
    response = operator_client.post(f"/payments/stripe-events/{row.id}/rerun", headers={"HX-Request": "true"})
    assert response.status_code == 400
