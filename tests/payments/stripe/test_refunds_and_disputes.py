"""Card refunds go through Stripe and enter the books once Stripe confirms; the invoice page shows a dispute's
deadline (the disputes themselves: test_disputes.py)."""

from datetime import UTC, datetime

from sqlalchemy import select

from app.ledger.service import check_books
from app.payments.models import Payment, PaymentStatus, Refund
from app.payments.stripe.events import process_received_events
from app.payments.stripe.models import StripeEventStatus
from tests.conftest import csrf_from
from tests.factories import make_invoice
from tests.payments.stripe_helpers import books_snapshot, event_rows, paid_by_card, post_event, process_all


def _card_payment(client, db, fake, amount_minor=10_000):
    invoice = make_invoice(amount_minor=amount_minor)
    session = paid_by_card(client, fake, invoice)
    process_all(client, fake)
    db.session.rollback()
    return db.session.scalar(select(Payment).where(Payment.rail_payment_id == session["payment_intent"]))


def _refund_form(client, payment_id: int) -> dict:
    html = client.get(f"/payments/{payment_id}/card-refund").get_data(as_text=True)
    key = html.split('name="request_key" type="hidden" value="')[1].split('"')[0]
    return {"csrf_token": csrf_from(html), "request_key": key}


def _payment(db, payment_id: int) -> Payment:
    db.session.rollback()
    return db.session.get(Payment, payment_id)


def test_the_operator_refunds_part_of_a_card_payment_and_the_books_follow(operator_client, db, stripe_fake):
    payment = _card_payment(operator_client, db, stripe_fake)
    form = _refund_form(operator_client, payment.id)
    response = operator_client.post(
        f"/payments/{payment.id}/card-refund", data={**form, "amount": "25.00"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "Refunded $25.00 to the card" in response.get_data(as_text=True)
    [at_stripe] = stripe_fake.state.of_kind("refund")
    assert (at_stripe["amount"], at_stripe["payment_intent"], at_stripe["status"]) == (
        2500,
        payment.rail_payment_id,
        "succeeded",
    )
    payment = _payment(db, payment.id)
    assert (payment.status, payment.refunded_minor) == (PaymentStatus.PARTIALLY_REFUNDED, 2500)
    assert [r.rail_refund_id for r in payment.refunds] == [at_stripe["id"]]
    assert check_books() == []

    # The same form submitted again (a double click): Stripe replays the same refund; nothing moves twice.
    before = books_snapshot(db)
    again = operator_client.post(f"/payments/{payment.id}/card-refund", data={**form, "amount": "25.00"})
    assert again.status_code == 200 and "already in" in again.get_data(as_text=True)
    assert len(stripe_fake.state.of_kind("refund")) == 1
    # Stripe's charge.refunded and refund.created arrive: the refund is already in the books.
    process_all(operator_client, stripe_fake)
    assert books_snapshot(db) == before
    refunded = next(r for r in event_rows(db) if r.type == "charge.refunded")
    assert refunded.result == "1 refund already recorded"

    # The rest, in a second refund.
    form = _refund_form(operator_client, payment.id)
    operator_client.post(f"/payments/{payment.id}/card-refund", data={**form, "amount": "75"})
    payment = _payment(db, payment.id)
    assert (payment.status, payment.refunded_minor) == (PaymentStatus.REFUNDED, 10_000)
    assert check_books() == []


def test_a_refund_above_what_is_left_or_not_an_amount_is_refused_naming_the_field(operator_client, db, stripe_fake):
    payment = _card_payment(operator_client, db, stripe_fake)
    before = books_snapshot(db)
    for amount, message in (
        ("100.01", "at most $100.00 is left to refund"),
        ("ten dollars", "is not an amount"),
        ("0", "must be greater than zero"),
        ("1.001", "USD has 2 decimal places"),
        ("", "enter the amount to refund"),
    ):
        response = operator_client.post(
            f"/payments/{payment.id}/card-refund", data={**_refund_form(operator_client, payment.id), "amount": amount}
        )
        assert response.status_code == 422, amount
        html = response.get_data(as_text=True)
        assert 'class="field has-error"' in html and message in html, (amount, html)
    assert stripe_fake.state.of_kind("refund") == []
    assert books_snapshot(db) == before


def test_a_pending_refund_enters_the_books_when_stripe_confirms_it(operator_client, db, stripe_fake):
    payment = _card_payment(operator_client, db, stripe_fake)
    stripe_fake.state.refunds_pending = True
    response = operator_client.post(
        f"/payments/{payment.id}/card-refund", data={**_refund_form(operator_client, payment.id), "amount": "10.00"}
    )
    assert "it enters the books when Stripe confirms it" in response.get_data(as_text=True)
    assert _payment(db, payment.id).refunded_minor == 0
    [refund] = stripe_fake.state.of_kind("refund")
    with stripe_fake.state.lock:
        stripe_fake.state.settle_refund(refund["id"])
    process_all(operator_client, stripe_fake)
    payment = _payment(db, payment.id)
    assert payment.refunded_minor == 1000 and [r.rail_refund_id for r in payment.refunds] == [refund["id"]]


def test_a_refund_made_in_stripes_dashboard_is_recorded_from_its_webhook(client, db, stripe_fake):
    payment = _card_payment(client, db, stripe_fake)
    with stripe_fake.state.lock:
        refund = stripe_fake.state.create_refund({"payment_intent": payment.rail_payment_id, "amount": 1500})
    process_all(client, stripe_fake)
    payment = _payment(db, payment.id)
    assert payment.refunded_minor == 1500 and payment.refunds[0].rail_refund_id == refund["id"]
    assert check_books() == []


def test_refunds_of_a_payment_that_is_not_ours_are_kept_as_unmatched(client, db, stripe_fake):
    event = stripe_fake.state.emit(
        "charge.refunded", {"id": "ch_elsewhere", "object": "charge", "payment_intent": "pi_elsewhere"}
    )
    post_event(client, stripe_fake, event)
    process_received_events()
    [row] = event_rows(db)
    assert row.status == StripeEventStatus.UNMATCHED
    assert "pi_elsewhere, which is not a payment in our books" in row.result
    assert db.session.scalar(select(Refund)) is None


def test_the_invoice_page_loads_the_card_refund_form_and_shows_a_dispute(operator_client, db, stripe_fake):
    payment = _card_payment(operator_client, db, stripe_fake)
    page = operator_client.get(f"/invoices/{payment.invoice_id}").get_data(as_text=True)
    assert f'hx-get="/payments/{payment.id}/card-refund"' in page
    db.session.rollback()
    payment = _payment(db, payment.id)
    payment.disputed, payment.dispute_due_by = True, datetime(2030, 1, 2, 12, tzinfo=UTC)
    db.session.commit()
    page = operator_client.get(f"/invoices/{payment.invoice_id}").get_data(as_text=True)
    assert "evidence due Jan 2" in page


def test_settings_say_why_cards_are_off_and_payments_link_the_stripe_events(operator_client, db):
    assert "Card payments off" in operator_client.get("/settings").get_data(as_text=True)
    assert 'href="/payments/stripe-events"' in operator_client.get("/payments").get_data(as_text=True)
