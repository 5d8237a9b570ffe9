"""The customer pays an invoice by card through Stripe Checkout (the loopback stand-in, the real library)."""

from sqlalchemy import select

from app.access.entitlement import entitlement_for
from app.billing.models import Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from app.customers.models import Customer
from app.payments.models import Payment, PaymentStatus, Rail
from app.payments.stripe.client import stripe_status
from app.payments.stripe.events import process_received_events
from app.payments.stripe.models import StripeEventStatus
from tests.conftest import csrf_from
from tests.factories import make_invoice, make_unpaid_subscription
from tests.fakes.stripe_state import card_fee
from tests.payments.stripe_helpers import books_snapshot, deliver_new, event_rows, pay_checkout


def _reload(db, model, id_):
    db.session.rollback()
    return db.session.get(model, id_)


def test_paying_by_card_settles_the_invoice_saves_the_card_and_turns_the_entitlement_on(client, db, stripe_fake):
    sub, invoice = make_unpaid_subscription()
    assert entitlement_for(sub.customer)["active"] is False
    session, events = pay_checkout(client, stripe_fake, invoice, save_card=True)

    create = next(r for r in stripe_fake.requests if r.path == "/v1/checkout/sessions")
    assert create.params["metadata"] == {"advancia_invoice": invoice.reference_code}
    assert create.params["payment_intent_data"]["metadata"] == {"advancia_invoice": invoice.reference_code}
    assert create.params["payment_intent_data"]["setup_future_usage"] == "off_session"
    assert create.params["line_items"][0]["price_data"] == {
        "currency": "usd",
        "unit_amount": "4900",
        "product_data": {"name": f"Invoice {invoice.number} ({invoice.reference_code})"},
    }
    assert create.idempotency_key.startswith(f"advancia-checkout:{invoice.reference_code}:4900:1:")

    back = client.get(f"/pay/{invoice.pay_token}/card/return?session_id={session['id']}")
    assert back.status_code == 303 and back.headers["Location"] == f"/pay/{invoice.pay_token}/card"
    page = client.get(back.headers["Location"]).get_data(as_text=True)
    assert "Payment received, thank you" in page and "Paid" in page

    invoice = _reload(db, Invoice, invoice.id)
    assert invoice.status == InvoiceStatus.PAID
    [payment] = invoice.payments
    assert (payment.rail, payment.rail_payment_id) == (Rail.CARD, session["payment_intent"])
    assert (payment.amount_minor, payment.fee_minor, payment.currency) == (4900, card_fee(4900), "USD")
    assert payment.note == "Visa •••• 4242"
    customer = db.session.get(Customer, invoice.customer_id)
    assert customer.stripe_customer_id == session["customer"]
    assert customer.stripe_payment_method_id == stripe_fake.state.objects[session["payment_intent"]]["payment_method"]
    assert entitlement_for(customer)["active"] is True
    assert db.session.get(Subscription, sub.id).status == SubscriptionStatus.ACTIVE

    # Stripe's own webhooks then arrive: each is stored, processed, and finds the payment already in the books.
    before = books_snapshot(db)
    assert set(deliver_new(client, stripe_fake)) == {200}
    process_received_events()
    assert books_snapshot(db) == before
    by_type = {row.type: row for row in event_rows(db)}
    assert by_type["checkout.session.completed"].status == StripeEventStatus.PROCESSED
    assert "already settled" in by_type["payment_intent.succeeded"].result
    assert by_type["payment_intent.created"].status == StripeEventStatus.IGNORED


def test_the_webhook_alone_settles_when_the_customer_never_comes_back(client, db, stripe_fake):
    invoice = make_invoice(amount_minor=12_345)
    pay_checkout(client, stripe_fake, invoice)
    assert set(deliver_new(client, stripe_fake)) == {200}
    summary = process_received_events()
    assert summary["processed"] >= 3
    invoice = _reload(db, Invoice, invoice.id)
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid_minor == 12_345
    results = [row.result for row in event_rows(db) if row.status == StripeEventStatus.PROCESSED]
    assert sum(r.startswith("settled $123.45") for r in results) == 1
    assert sum(r.startswith("already settled") for r in results) >= 2


def test_a_double_click_on_pay_opens_one_checkout_session(client, db, stripe_fake):
    invoice = make_invoice()
    token = csrf_from(client.get(f"/pay/{invoice.pay_token}/card").get_data(as_text=True))
    first = client.post(f"/pay/{invoice.pay_token}/card", data={"csrf_token": token})
    second = client.post(f"/pay/{invoice.pay_token}/card", data={"csrf_token": token})
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    creates = [r for r in stripe_fake.requests if r.path == "/v1/checkout/sessions"]
    assert [r.replayed for r in creates] == [False, True]
    assert len(stripe_fake.state.of_kind("checkout.session")) == 1
    assert len(stripe_fake.state.of_kind("customer")) == 1


def test_canceling_on_stripe_returns_to_the_invoice_with_nothing_charged(client, db, stripe_fake):
    invoice = make_invoice()
    token = csrf_from(client.get(f"/pay/{invoice.pay_token}/card").get_data(as_text=True))
    client.post(f"/pay/{invoice.pay_token}/card", data={"csrf_token": token})
    cancel_url = stripe_fake.state.of_kind("checkout.session")[0]["cancel_url"]
    assert cancel_url.endswith(f"/pay/{invoice.pay_token}/card?canceled=1")
    page = client.get(cancel_url.split("5000", 1)[-1]).get_data(as_text=True)
    assert "canceled: nothing was charged" in page
    assert _reload(db, Invoice, invoice.id).status == InvoiceStatus.OPEN


def test_a_declined_card_on_checkout_leaves_the_invoice_open_and_records_the_decline(client, db, stripe_fake):
    invoice = make_invoice()
    session, events = pay_checkout(client, stripe_fake, invoice, card="4000000000009995")
    assert session["payment_status"] == "unpaid"
    assert "payment_intent.payment_failed" in [e["type"] for e in events]
    deliver_new(client, stripe_fake)
    process_received_events()
    assert _reload(db, Invoice, invoice.id).status == InvoiceStatus.OPEN
    [declined] = db.session.scalars(select(Payment).where(Payment.status == PaymentStatus.FAILED)).all()
    assert declined.rail == Rail.CARD and declined.invoice_id == invoice.id
    assert declined.note == "insufficient_funds: Your card has insufficient funds."
    failed = next(r for r in event_rows(db) if r.type == "payment_intent.payment_failed")
    assert failed.result.startswith("card declined (insufficient_funds")


def test_without_stripe_keys_the_card_rail_is_hidden_and_says_why(client, db, app):
    assert not app.config.get("STRIPE_SECRET_KEY")
    enabled, reason = stripe_status()
    assert enabled is False and "STRIPE_SECRET_KEY is not set" in reason
    invoice = make_invoice()
    page = client.get(f"/pay/{invoice.pay_token}/card").get_data(as_text=True)
    assert "Card payments are not available" in page and "Pay $49.00 by card" not in page
    response = client.post(f"/pay/{invoice.pay_token}/card", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 503
    assert "card payments are not available" in response.get_data(as_text=True)


def test_the_operator_turning_the_card_rail_off_hides_it(client, db, stripe_fake):
    from app.settings.service import set_setting

    set_setting("rails.enabled", ["btc", "wire"], actor="test")
    db.session.commit()
    invoice = make_invoice()
    page = client.get(f"/pay/{invoice.pay_token}/card").get_data(as_text=True)
    assert "Card payments are not available" in page


def test_a_paid_invoice_cannot_start_a_card_payment(client, db, stripe_fake):
    invoice = make_invoice()
    pay_checkout(client, stripe_fake, invoice)
    deliver_new(client, stripe_fake)
    process_received_events()
    page = client.get(f"/pay/{invoice.pay_token}/card").get_data(as_text=True)
    assert "Pay $49.00 by card" not in page
    response = client.post(f"/pay/{invoice.pay_token}/card", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 409 and "has nothing left to pay" in response.get_data(as_text=True)
    assert len(stripe_fake.state.of_kind("checkout.session")) == 1


def test_the_card_form_without_its_csrf_token_is_refused_and_nothing_reaches_stripe(client, db, stripe_fake):
    invoice = make_invoice()
    response = client.post(f"/pay/{invoice.pay_token}/card", data={})
    assert response.status_code == 400 and "CSRF token is missing" in response.get_data(as_text=True)
    assert stripe_fake.requests == []


def test_an_unknown_pay_token_is_404_without_calling_stripe(client, db, stripe_fake):
    assert client.get("/pay/not-a-real-token-at-all-xxxxxxx/card").status_code == 404
    assert client.get("/pay/short/card").status_code == 404
    assert stripe_fake.requests == []


def test_a_return_with_another_invoices_session_changes_nothing(client, db, stripe_fake):
    mine, theirs = make_invoice(), make_invoice()
    session, _ = pay_checkout(client, stripe_fake, theirs)
    before = books_snapshot(db)
    response = client.get(f"/pay/{mine.pay_token}/card/return?session_id={session['id']}")
    assert response.status_code == 400 and "not for this invoice" in response.get_data(as_text=True)
    assert books_snapshot(db) == before
    assert client.get(f"/pay/{mine.pay_token}/card/return?session_id=garbage").status_code == 400


def test_manage_card_opens_a_customer_portal_session(client, db, stripe_fake):
    invoice = make_invoice()
    session, _ = pay_checkout(client, stripe_fake, invoice, save_card=True)
    client.get(f"/pay/{invoice.pay_token}/card/return?session_id={session['id']}")
    page = client.get(f"/pay/{invoice.pay_token}/card").get_data(as_text=True)
    assert "Paid" in page and "Manage your saved card" in page
    response = client.post(f"/pay/{invoice.pay_token}/card/manage", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"{stripe_fake.base_url}/portal/bps_")
    [portal] = stripe_fake.state.of_kind("billing_portal.session")
    assert portal["customer"] == session["customer"]
    assert portal["return_url"].endswith(f"/pay/{invoice.pay_token}/card")


def test_the_card_form_may_post_to_stripe_hosted_pages(client, db, stripe_fake):
    invoice = make_invoice()
    policy = client.get(f"/pay/{invoice.pay_token}/card").headers["Content-Security-Policy"]
    assert f"form-action 'self' {stripe_fake.base_url}" in policy


def test_the_payment_is_kept_once_per_payment_intent(client, db, stripe_fake):
    invoice = make_invoice()
    session, _ = pay_checkout(client, stripe_fake, invoice)
    for _ in range(3):
        client.get(f"/pay/{invoice.pay_token}/card/return?session_id={session['id']}")
    db.session.rollback()
    assert len(db.session.scalars(select(Payment)).all()) == 1


def test_the_pay_page_offers_card_only_when_stripe_is_configured(app, client, db):
    from tests.factories import make_invoice

    invoice = make_invoice(amount_minor=4900)
    assert "by card" not in client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)


def test_the_pay_page_offers_card_with_stripe_configured(app, client, db, stripe_fake):
    from tests.factories import make_invoice

    invoice = make_invoice(amount_minor=4900)
    page = client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)
    assert "Pay $49.00 by card" in page and f"/pay/{invoice.pay_token}/card" in page
