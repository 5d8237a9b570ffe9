"""A customer's disputes in a real browser: the open one with its evidence deadline, the lost one with its refund."""

import pytest
from sqlalchemy import select

from app.payments.models import Payment
from tests.e2e.conftest import screenshot
from tests.factories import make_customer, make_invoice
from tests.payments.stripe_helpers import paid_by_card, process_all

pytestmark = pytest.mark.browser


def _paid(client, db, fake, customer, amount_minor: int) -> Payment:
    session = paid_by_card(client, fake, make_invoice(customer, amount_minor=amount_minor))
    process_all(client, fake)
    db.session.rollback()
    return db.session.scalar(select(Payment).where(Payment.rail_payment_id == session["payment_intent"]))


def test_the_operator_sees_a_customers_disputes_and_their_deadline(
    live_server, page, operator, client, db, stripe_fake
):
    customer = make_customer(name="Ada Lovelace", email="ada@example.com")
    contested = _paid(client, db, stripe_fake, customer, 10_000)
    lost = _paid(client, db, stripe_fake, customer, 4_500)
    with stripe_fake.state.lock:
        stripe_fake.state.open_dispute(contested.rail_payment_id, reason="product_not_received", due_in_days=6)
        gone = stripe_fake.state.open_dispute(lost.rail_payment_id, reason="fraudulent")
        stripe_fake.state.close_dispute(gone["id"], "lost")
    process_all(client, stripe_fake)

    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "op@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    page.goto(f"{live_server}/customers/{customer.id}")
    panel = page.locator("section.panel-alert")
    assert "1 open" in panel.locator("h2").inner_text()
    rows = panel.locator("tbody tr")
    assert rows.count() == 2
    assert "evidence due" in rows.nth(0).inner_text() and "product not received" in rows.nth(0).inner_text()
    assert "Lost" in rows.nth(1).inner_text() and "refunded $45.00" in rows.nth(1).inner_text()
    assert page.locator(".timeline .badge-bad", has_text="Disputed · evidence due").count() == 1
    screenshot(page, "customer-disputes")
