"""A demo customer pays an invoice by card in a real browser against the loopback Stripe; the entitlement turns on
and a storm of duplicate webhooks changes nothing."""

import pytest
from sqlalchemy import select

from app.access.entitlement import entitlement_for
from app.billing.models import Invoice, InvoiceStatus
from app.customers.models import Customer
from app.payments.models import Payment
from app.payments.stripe.events import process_received_events
from app.payments.stripe.models import StripeEvent, StripeEventStatus
from tests.e2e.conftest import screenshot
from tests.factories import make_customer, make_plan, make_unpaid_subscription
from tests.payments.stripe_helpers import books_snapshot

pytestmark = pytest.mark.browser


@pytest.fixture
def card_stack(app, live_server, stripe_fake):
    """The app's public address is the live server's, and the stand-in delivers its webhooks there."""
    saved = app.config["PUBLIC_URL"]
    app.config["PUBLIC_URL"] = live_server
    stripe_fake.webhook_url = f"{live_server}/webhooks/stripe"
    yield stripe_fake
    app.config["PUBLIC_URL"] = saved


def test_a_customer_pays_by_card_in_the_browser_and_gets_access(live_server, page, db, card_stack, run_worker):
    fake = card_stack
    customer = make_customer(name="Ada Lovelace", email="ada@example.com")
    sub, invoice = make_unpaid_subscription(
        customer, make_plan(code="pro-monthly", amount_minor=4900, limits={"seats": 5})
    )
    assert entitlement_for(customer)["active"] is False

    page.goto(f"{live_server}/pay/{invoice.pay_token}/card")
    assert page.locator(".card-page-amount").inner_text() == "$49.00"
    assert page.locator("input[name=save_card]").is_checked()  # a subscription: renewals charge the card
    screenshot(page, "card-pay-invoice")
    page.click("text=Pay $49.00 by card")
    page.wait_for_url(f"{fake.base_url}/pay/cs_*")  # Stripe's hosted page (the stand-in)
    assert "49.00 USD" in page.locator(".amount").inner_text()
    screenshot(page, "card-pay-stripe-checkout")
    page.click("#pay")
    page.wait_for_url(f"{live_server}/pay/{invoice.pay_token}/card")
    assert "Payment received, thank you" in page.locator(".flash-success").inner_text()
    assert page.locator(".badge-paid").inner_text() == "Paid"
    screenshot(page, "card-pay-paid")

    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.PAID
    customer = db.session.get(Customer, customer.id)
    access = entitlement_for(customer)
    assert access["active"] is True and access["plan"] == "pro-monthly" and access["limits"] == {"seats": 5}
    assert customer.stripe_payment_method_id  # kept for renewals

    # Stripe's webhooks reached the app during the payment; the worker processes them, then a storm of duplicates.
    assert run_worker().returncode == 0
    before = books_snapshot(db)
    storm = [event for event in fake.state.events for _ in range(10)]
    assert set(fake.deliver(storm)) == {200}
    assert run_worker().returncode == 0
    assert books_snapshot(db) == before
    db.session.rollback()
    rows = db.session.scalars(select(StripeEvent)).all()
    assert {row.status for row in rows} <= {StripeEventStatus.PROCESSED, StripeEventStatus.IGNORED}
    assert {row.deliveries for row in rows} == {11}
    assert len(db.session.scalars(select(Payment)).all()) == 1


def test_the_card_page_fits_a_phone(live_server, phone_page, db, card_stack):
    _, invoice = make_unpaid_subscription()
    phone_page.goto(f"{live_server}/pay/{invoice.pay_token}/card")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone_page, "card-pay-phone")
    phone_page.click("text=Pay $49.00 by card")
    phone_page.wait_for_url(f"{card_stack.base_url}/pay/cs_*")
    phone_page.click("#cancel")
    phone_page.wait_for_url(f"{live_server}/pay/{invoice.pay_token}/card?canceled=1")
    assert "nothing was charged" in phone_page.locator(".flash").inner_text()
    screenshot(phone_page, "card-pay-phone-canceled")


def test_the_operator_reruns_a_stripe_event_from_the_events_screen(live_server, page, db, operator, card_stack):
    # A card payment made outside Advancia (no invoice reference): kept as unmatched, shown to the operator.
    with card_stack.state.lock:
        card_stack.state.create_payment_intent(
            {"amount": 700, "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}
        )
    assert set(card_stack.deliver(card_stack.new_events(("payment_intent.succeeded",)))) == {200}
    process_received_events()

    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "op@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    page.goto(f"{live_server}/payments/stripe-events")
    row = page.locator("tbody tr").first
    assert row.locator(".badge").inner_text() == "unmatched"
    screenshot(page, "stripe-events")
    with page.expect_response(lambda r: r.url.endswith("/rerun")) as rerun:
        row.locator("button", has_text="Re-run").click()  # htmx posts with the CSRF header and swaps the row
    assert rerun.value.status == 200
    page.wait_for_load_state("networkidle")
    page.locator("tbody tr").first.locator("a").click()
    page.wait_for_url(f"{live_server}/payments/stripe-events/*")
    assert "names no invoice of ours" in page.locator("#event-result").inner_text()
    page.click("text=Re-run this event")
    page.wait_for_selector("#event-result .flash-success")
    screenshot(page, "stripe-event-detail")
    db.session.rollback()
    assert db.session.scalar(select(StripeEvent)).attempts == 3
