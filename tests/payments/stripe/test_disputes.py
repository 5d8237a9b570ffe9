"""Card disputes (chargebacks) through the loopback Stripe and the real `stripe` library: the books follow the money
Stripe moves (the amount and the dispute fee out when it opens, back when it is won, a refund when it is lost), the
operator hears once, and the customer page shows the deadline."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.ledger.models import Account
from app.ledger.service import Line, balance, check_books, post
from app.notifications.models import OutboxMessage
from app.notifications.rendering import render_email
from app.payments.models import Dispute, DisputeStatus, Payment, PaymentStatus
from app.payments.stripe.disputes import apply_dispute
from app.payments.stripe.events import process_received_events
from app.queues import get_queue
from tests.factories import make_customer, make_invoice
from tests.fakes.stripe_state import DISPUTE_FEE
from tests.payments.stripe_helpers import books_snapshot, event_rows, paid_by_card, post_event, process_all

AMOUNT = 10_000


def _card_payment(client, db, fake, amount_minor=AMOUNT, customer=None) -> Payment:
    invoice = make_invoice(customer, amount_minor=amount_minor)
    session = paid_by_card(client, fake, invoice)
    process_all(client, fake)
    db.session.rollback()
    return db.session.scalar(select(Payment).where(Payment.rail_payment_id == session["payment_intent"]))


def _books(db) -> dict[str, int]:
    db.session.rollback()
    return {
        "cash": balance(Account.CASH_CARD, "USD"),
        "disputed": balance(Account.DISPUTED_FUNDS, "USD"),
        "fees": balance(Account.FEES, "USD"),
        "refunds": balance(Account.REFUNDS, "USD"),
    }


def _dispute(db, rail_dispute_id: str) -> Dispute:
    db.session.rollback()
    return db.session.scalar(select(Dispute).where(Dispute.rail_dispute_id == rail_dispute_id))


def _emails(db, template: str) -> list[OutboxMessage]:
    db.session.rollback()
    return [
        m
        for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        if m.payload.get("template") == template
    ]


def _redeliver_everything(client, fake) -> None:
    """Stripe delivers at least once: every event it ever sent arrives again."""
    with fake.state.lock:
        events = list(fake.state.events)
    for event in events:
        assert post_event(client, fake, event).status_code == 200
    process_received_events()


def test_an_opened_dispute_takes_the_amount_and_the_fee_out_of_cash_and_tells_the_operator_once(
    client, db, stripe_fake
):
    customer = make_customer(name="Grace Hopper")
    payment = _card_payment(client, db, stripe_fake, customer=customer)
    before = _books(db)
    with stripe_fake.state.lock:
        du = stripe_fake.state.open_dispute(payment.rail_payment_id, reason="product_not_received", due_in_days=7)
    process_all(client, stripe_fake)

    due = datetime.fromtimestamp(du["evidence_details"]["due_by"], UTC)
    after = _books(db)
    assert after["disputed"] - before["disputed"] == AMOUNT
    assert after["fees"] - before["fees"] == DISPUTE_FEE
    assert after["cash"] - before["cash"] == -(AMOUNT + DISPUTE_FEE)
    dispute = _dispute(db, du["id"])
    assert (dispute.status, dispute.withdrawn_minor, dispute.fee_minor, dispute.due_by) == (
        DisputeStatus.OPEN,
        AMOUNT,
        DISPUTE_FEE,
        due,
    )
    assert dispute.payment.disputed and dispute.payment.dispute_due_by == due
    assert check_books() == []

    [email] = _emails(db, "operator_dispute_opened")
    assert email.payload["to"] == "operator@advancia.test"
    text = render_email(email, with_attachments=False).text
    invoice_number = dispute.payment.invoice.number
    for fact in ("Grace Hopper", str(invoice_number), "$100.00", "product not received", f"{due:%Y-%m-%d %H:%M} UTC"):
        assert fact in text, fact
    assert "$100.00 and a $15.00 dispute fee" in text

    # created and funds_withdrawn again, and every older event: nothing moves twice, no second email.
    snapshot = books_snapshot(db)
    _redeliver_everything(client, stripe_fake)
    assert books_snapshot(db) == snapshot and _books(db) == after
    assert len(_emails(db, "operator_dispute_opened")) == 1


@pytest.mark.parametrize("fee_returned", [True, False], ids=["fee returned", "fee kept"])
def test_a_won_dispute_brings_the_amount_back_and_the_fee_as_stripe_reports_it(client, db, stripe_fake, fee_returned):
    payment = _card_payment(client, db, stripe_fake)
    before = _books(db)
    with stripe_fake.state.lock:
        du = stripe_fake.state.open_dispute(payment.rail_payment_id)
    process_all(client, stripe_fake)
    with stripe_fake.state.lock:
        stripe_fake.state.close_dispute(du["id"], "won", fee_returned=fee_returned)
    process_all(client, stripe_fake)

    kept = 0 if fee_returned else DISPUTE_FEE
    after = _books(db)
    assert after == {**before, "cash": before["cash"] - kept, "fees": before["fees"] + kept}
    dispute = _dispute(db, du["id"])
    assert (dispute.status, dispute.reinstated_minor, dispute.fee_minor) == (DisputeStatus.WON, AMOUNT, kept)
    assert dispute.payment.disputed is False and dispute.payment.dispute_due_by is None
    assert dispute.payment.refunded_minor == 0
    assert check_books() == []
    [closed] = _emails(db, "operator_dispute_closed")
    assert closed.payload["context"]["outcome"] == "won" and closed.payload["context"]["fee_kept"] == (
        "$15.00" if kept else "$0.00"
    )
    snapshot = books_snapshot(db)
    _redeliver_everything(client, stripe_fake)
    assert books_snapshot(db) == snapshot


def test_a_lost_dispute_refunds_the_customer_from_disputed_funds_not_from_cash_again(client, db, stripe_fake):
    payment = _card_payment(client, db, stripe_fake, amount_minor=8_000)
    before = _books(db)
    with stripe_fake.state.lock:
        du = stripe_fake.state.open_dispute(payment.rail_payment_id)
        stripe_fake.state.close_dispute(du["id"], "lost")
    events = stripe_fake.new_events()
    for event in events + events:  # every event delivered twice
        assert post_event(client, stripe_fake, event).status_code == 200
    process_received_events()

    after = _books(db)
    assert after == {
        "cash": before["cash"] - 8_000 - DISPUTE_FEE,  # withdrawn once, by Stripe
        "disputed": 0,
        "fees": before["fees"] + DISPUTE_FEE,
        "refunds": before["refunds"] + 8_000,
    }
    db.session.rollback()
    payment = db.session.get(Payment, payment.id)
    assert (payment.status, payment.refunded_minor, payment.disputed, payment.dispute_due_by) == (
        PaymentStatus.REFUNDED,
        8_000,
        True,
        None,
    )
    assert [(r.rail_refund_id, r.amount_minor, r.reason) for r in payment.refunds] == [
        (du["id"], 8_000, "dispute lost")
    ]
    assert _dispute(db, du["id"]).refund_id == payment.refunds[0].id
    assert check_books() == []
    results = [r.result for r in event_rows(db) if r.type.startswith("charge.dispute")]
    assert len(results) == 3 and sum("$80.00 taken back" in r for r in results) == 1
    # First seen already lost: the operator hears that it was lost, not that it opened.
    assert _emails(db, "operator_dispute_opened") == []
    [closed] = _emails(db, "operator_dispute_closed")
    assert closed.payload["context"]["outcome"] == "lost"


def test_dispute_events_in_any_order_end_in_the_same_books(client, db, stripe_fake):
    in_order = _card_payment(client, db, stripe_fake)
    reversed_ = _card_payment(client, db, stripe_fake)
    start = _books(db)
    with stripe_fake.state.lock:
        first = stripe_fake.state.open_dispute(in_order.rail_payment_id)
    process_all(client, stripe_fake)
    with stripe_fake.state.lock:
        stripe_fake.state.close_dispute(first["id"], "won", fee_returned=False)
    process_all(client, stripe_fake)
    middle = _books(db)

    with stripe_fake.state.lock:
        second = stripe_fake.state.open_dispute(reversed_.rail_payment_id)
        stripe_fake.state.close_dispute(second["id"], "won", fee_returned=False)
    for event in reversed(stripe_fake.new_events()):  # reinstated and closed before created
        post_event(client, stripe_fake, event)
    process_received_events()
    end = _books(db)

    assert {k: end[k] - middle[k] for k in end} == {k: middle[k] - start[k] for k in end}
    a, b = _dispute(db, first["id"]), _dispute(db, second["id"])
    assert [(d.status, d.withdrawn_minor, d.reinstated_minor, d.fee_minor) for d in (a, b)] == [
        (DisputeStatus.WON, AMOUNT, AMOUNT, DISPUTE_FEE)
    ] * 2
    assert check_books() == []


def test_a_late_report_of_an_open_dispute_does_not_reopen_a_closed_one(app, client, db, stripe_fake):
    payment = _card_payment(client, db, stripe_fake)
    with stripe_fake.state.lock:
        du = stripe_fake.state.open_dispute(payment.rail_payment_id)
        as_opened = stripe_fake.new_events()[0]["data"]["object"]
        stripe_fake.state.close_dispute(du["id"], "lost")
    process_all(client, stripe_fake)
    snapshot = books_snapshot(db)
    # A worker that read the dispute before it closed applies its stale copy last.
    outcome = apply_dispute(as_opened, actor="test")
    db.session.commit()
    assert "already closed as lost" in outcome.text
    assert books_snapshot(db) == snapshot
    assert _dispute(db, du["id"]).status == DisputeStatus.LOST


def test_the_customer_page_shows_open_disputes_with_their_deadline_and_closed_ones_with_their_outcome(
    operator_client, db, stripe_fake
):
    customer = make_customer(name="Ada Lovelace")
    contested = _card_payment(operator_client, db, stripe_fake, customer=customer)
    lost = _card_payment(operator_client, db, stripe_fake, amount_minor=4_500, customer=customer)
    with stripe_fake.state.lock:
        du = stripe_fake.state.open_dispute(contested.rail_payment_id, reason="fraudulent", due_in_days=5)
        gone = stripe_fake.state.open_dispute(lost.rail_payment_id, reason="subscription_canceled")
        stripe_fake.state.close_dispute(gone["id"], "lost")
    process_all(operator_client, stripe_fake)
    due = datetime.fromtimestamp(du["evidence_details"]["due_by"], UTC)

    page = operator_client.get(f"/customers/{customer.id}").get_data(as_text=True)
    disputes = page[page.index("<h2>Disputes") : page.index("<h2>Timeline")]
    assert "1 open" in disputes
    assert f"evidence due {due:%b %-d, %H:%M} UTC" in disputes and "$100.00" in disputes and "fraudulent" in disputes
    assert "Lost" in disputes and "subscription canceled" in disputes and "refunded $45.00" in disputes
    assert disputes.count("$15.00") == 2  # each dispute's fee
    timeline = page[page.index("<h2>Timeline") :]
    assert "Disputed · evidence due" in timeline and "Dispute lost" in timeline  # the payments' rows are marked
    # The same fragment answers HTMX on its own.
    fragment = operator_client.get(f"/payments/disputes?customer={customer.id}").get_data(as_text=True)
    assert f"evidence due {due:%b %-d, %H:%M} UTC" in fragment and contested.rail_payment_id in fragment
    assert "<h2>Disputes" not in operator_client.get(f"/customers/{make_customer().id}").get_data(as_text=True)

    # Evidence sent: the deadline no longer asks for anything; the bank decides.
    with stripe_fake.state.lock:
        stripe_fake.state.submit_dispute_evidence(du["id"])
    process_all(operator_client, stripe_fake)
    page = operator_client.get(f"/customers/{customer.id}").get_data(as_text=True)
    disputes = page[page.index("<h2>Disputes") : page.index("<h2>Timeline")]
    assert "evidence sent; the bank decides" in disputes and "evidence due" not in disputes
    assert "Evidence was sent" in disputes and "Submit evidence" not in disputes and "panel-alert" not in page


def test_ledger_check_catches_a_dispute_posting_the_disputes_table_does_not_explain(app, client, db, stripe_fake):
    payment = _card_payment(client, db, stripe_fake)
    with stripe_fake.state.lock:
        stripe_fake.state.open_dispute(payment.rail_payment_id)
    process_all(client, stripe_fake)
    db.session.rollback()
    assert check_books() == []
    assert app.test_cli_runner().invoke(args=["ledger", "check"]).exit_code == 0

    # The withdrawal booked a second time under another key, as a buggy change might.
    post(
        "dispute.withdrawn",
        "planted:double-withdrawal",
        "USD",
        [Line(Account.DISPUTED_FUNDS, AMOUNT), Line(Account.CASH_CARD, -AMOUNT)],
    )
    db.session.commit()
    problems = check_books()
    assert any(
        p.startswith(f"disputed_funds USD: ledger {2 * AMOUNT}, ") and p.endswith(f"say {AMOUNT}") for p in problems
    )
    assert any(p.startswith("cash:card USD:") for p in problems)
    result = app.test_cli_runner().invoke(args=["ledger", "check"])
    assert result.exit_code != 0 and "disputed_funds USD" in result.output


def test_ledger_check_catches_a_dispute_fee_missing_from_the_books(app, client, db, stripe_fake):
    payment = _card_payment(client, db, stripe_fake)
    with stripe_fake.state.lock:
        du = stripe_fake.state.open_dispute(payment.rail_payment_id)
    process_all(client, stripe_fake)
    dispute = _dispute(db, du["id"])
    dispute.fee_minor += 500  # the table says Stripe kept more than the ledger shows
    db.session.commit()
    problems = check_books()
    assert any(p.startswith("fees USD:") for p in problems) and any(p.startswith("cash:card USD:") for p in problems)


def test_an_opened_dispute_books_the_withdrawal_reported_in_another_currency_without_its_fee(db):
    """A EUR charge on a USD Stripe account: the withdrawal is in USD; we keep the EUR amount and leave the fee out,
    as for the charge's own fee."""
    from app.payments.stripe.disputes import balance_movements

    dispute = {
        "id": "du_x",
        "amount": 4_900,
        "balance_transactions": [{"id": "txn_1", "amount": -5_300, "currency": "usd", "fee": 1_500}],
    }
    assert [(m.rail_id, m.amount_minor, m.fee_minor) for m in balance_movements(dispute, "EUR")] == [
        ("txn_1", -4_900, 0)
    ]
    assert [(m.amount_minor, m.fee_minor) for m in balance_movements(dispute, "USD")] == [(-5_300, 1_500)]


def test_two_workers_inside_the_same_dispute_at_once_book_it_once(client, db, stripe_fake, run_worker):
    payment = _card_payment(client, db, stripe_fake)
    before = _books(db)
    with stripe_fake.state.lock:
        du = stripe_fake.state.open_dispute(payment.rail_payment_id)
    events = stripe_fake.new_events()  # charge.dispute.created and charge.dispute.funds_withdrawn
    for event in events:
        assert post_event(client, stripe_fake, event).status_code == 200
    # Each worker claims one of the two events; both read the dispute at the same moment, then both apply it.
    stripe_fake.rendezvous(f"/v1/disputes/{du['id']}")
    get_queue().enqueue("workers.jobs.stripe_events", description="stripe_events")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run_worker(), range(2)))
    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    assert stripe_fake.met == [f"/v1/disputes/{du['id']}"]
    after = _books(db)
    assert (after["disputed"] - before["disputed"], after["fees"] - before["fees"]) == (AMOUNT, DISPUTE_FEE)
    assert len(_emails(db, "operator_dispute_opened")) == 1
    assert check_books() == []


def test_the_operators_product_hears_of_a_dispute_once_when_it_opens_and_once_when_it_closes(client, db, stripe_fake):
    from app.access.models import WebhookDelivery
    from tests.factories import make_webhook_endpoint

    make_webhook_endpoint(events=["payment.disputed", "payment.dispute_closed"])
    payment = _card_payment(client, db, stripe_fake, amount_minor=8_000)
    with stripe_fake.state.lock:
        du = stripe_fake.state.open_dispute(payment.rail_payment_id)
    process_all(client, stripe_fake)
    with stripe_fake.state.lock:
        stripe_fake.state.close_dispute(du["id"], "lost")
    process_all(client, stripe_fake)
    _redeliver_everything(client, stripe_fake)

    db.session.rollback()
    sent = [
        (d.event_type, d.payload["data"])
        for d in db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
    ]
    assert [event_type for event_type, _ in sent] == ["payment.disputed", "payment.dispute_closed"]
    opened, closed = sent[0][1], sent[1][1]
    assert (opened["dispute"], opened["amount"], opened["currency"], opened["outcome"]) == (
        du["id"],
        "80.00",
        "USD",
        "open",
    )
    assert opened["evidence_due"] is not None and opened["payment_id"] == payment.id
    assert (closed["outcome"], closed["evidence_due"]) == ("lost", None)
