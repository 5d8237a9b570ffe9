"""The customer's pay page: reached by its unguessable token alone, it shows one invoice and the ways to pay it."""

from datetime import timedelta

import pytest

from app.billing.invoices import LineInput, create_invoice, expire_invoice, void_invoice
from app.db_types import utcnow
from app.settings.service import set_setting
from tests.factories import make_customer, make_invoice, make_manual_payment
from tests.screens import text_of

pytestmark = pytest.mark.usefixtures("fresh_reads")


def test_an_open_invoice_shows_what_is_owed_and_how_to_pay_it_by_bank_with_the_reference(client, db):
    invoice = make_invoice(make_customer(name="Ada Lovelace"), amount_minor=12000)
    make_manual_payment(invoice, "20.00")
    response = client.get(f"/pay/{invoice.pay_token}")
    html = response.get_data(as_text=True)
    text = text_of(html)
    assert response.status_code == 200
    assert "Advancia Mini Demo Co." in text and f"#{invoice.number}" in text and "$100.00" in text
    assert "$20.00 of $120.00 already paid" in text and "Consulting" in text
    assert f"Due {invoice.due_at:%B} {invoice.due_at.day}, {invoice.due_at.year}" in text
    assert "IBAN: GB33BUKB20201555555555" in html  # bank instructions from settings
    assert html.count(invoice.reference_code) >= 3 and f'data-copy="{invoice.reference_code}"' in html
    assert "Bank transfer or wire" in text and "Check" in text and "Cash" in text
    assert 'name="email"' not in html and "Sign out" not in html and 'aria-label="Main"' not in html  # no login chrome
    assert response.headers["Cache-Control"] == "private, no-store"


def test_rails_without_a_pay_page_option_yet_are_not_offered(client, db):
    invoice = make_invoice(amount_minor=5000)
    text = text_of(client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)).lower()
    for absent in ("card", "bitcoin", "ether", "usdc", "crypto"):
        assert absent not in text, absent


def test_only_the_rails_enabled_in_settings_are_offered(client, db):
    set_setting("rails.enabled", ["check"], actor="test")
    db.session.commit()
    invoice = make_invoice(amount_minor=5000)
    html = client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)
    assert 'id="pay-check"' in html and 'id="pay-bank"' not in html and 'id="pay-cash"' not in html
    assert "IBAN" not in html and "payable to" in html
    set_setting("rails.enabled", [], actor="test")
    db.session.commit()
    assert "Online payment is not set up yet" in client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)


def test_a_paid_invoice_thanks_the_customer_and_links_its_receipts(client, db):
    invoice = make_invoice(amount_minor=5000)
    first = make_manual_payment(invoice, "20.00")
    second = make_manual_payment(invoice, "30.00")
    html = client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)
    assert "Paid, thank you" in html and "How to pay" not in html
    for payment in (first, second):
        assert f'href="/pay/{invoice.pay_token}/receipts/{payment.id}.pdf"' in html
    assert f'href="/pay/{invoice.pay_token}/invoice.pdf"' in html


def test_an_expired_invoice_says_so_and_how_to_get_a_new_one(client, db):
    invoice = make_invoice(amount_minor=5000, now=utcnow() - timedelta(days=90))
    expire_invoice(invoice, actor="test")
    db.session.commit()
    html = client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)
    assert "This invoice has expired" in html and "ask Advancia Mini Demo Co. for a new invoice" in html
    assert 'href="mailto:billing@advancia.test?subject=' in html
    assert "How to pay" not in html and "IBAN" not in html


def test_a_void_invoice_says_nothing_is_owed(client, db):
    invoice = make_invoice(amount_minor=5000)
    void_invoice(invoice, actor="test")
    db.session.commit()
    html = client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)
    assert "This invoice was cancelled" in html and "How to pay" not in html


def test_unknown_tokens_and_drafts_are_404(client, db):
    assert client.get("/pay/not-a-real-token-but-long-enough-1234").status_code == 404
    assert client.get("/pay/x").status_code == 404
    draft = create_invoice(make_customer(), "USD", [LineInput("Draft", 100)], actor="test", finalize=False)
    db.session.commit()
    assert client.get(f"/pay/{draft.pay_token}").status_code == 404


def test_the_page_shows_nothing_of_the_operators_own_records(client, operator, db):
    customer = make_customer(name="Ada Lovelace", email="ada@example.com", external_id="usr_secret_8812")
    other = make_invoice(make_customer(name="Grace Hopper", external_id="usr_other"), amount_minor=999)
    invoice = make_invoice(customer, amount_minor=5000)
    make_manual_payment(invoice, "10.00", reference="CHK-1", actor=f"user:{operator.id}")
    from app.payments.models import Payment

    payment = db.session.get(Payment, 1)
    payment.note = "internal: customer paid late again"
    db.session.commit()
    html = client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)
    for leak in (
        "usr_secret_8812",
        "internal: customer paid late again",
        "op@example.com",
        "operator@advancia.test",
        f"user:{operator.id}",
        "Grace Hopper",
        other.reference_code,
        other.pay_token,
        "recorded",
    ):
        assert leak not in html, leak
