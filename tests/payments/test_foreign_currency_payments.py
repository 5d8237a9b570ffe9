"""A manual payment that arrived in another currency than the invoice's: the books hold its value in the invoice
currency, the payment keeps what arrived and the bank's rate, and the receipt says so."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.billing.documents import receipt_pdf
from app.ledger.service import check_books
from app.payments.manual import ManualPayment, ManualPaymentError, record_manual_payment
from app.payments.models import Payment
from tests.billing.test_document_downloads import pdf_text
from tests.conftest import csrf_from
from tests.factories import make_invoice


def test_a_eur_wire_for_a_usd_invoice_keeps_what_arrived_and_the_rate(db):
    invoice = make_invoice(amount_minor=4900)
    result = record_manual_payment(
        invoice.id,
        ManualPayment("wire", "49.00", "FW-EUR-1", received_amount="45.00", received_currency="eur"),
        actor="test",
    )
    db.session.commit()
    payment = db.session.get(Payment, result.payment.id)
    assert (payment.amount_minor, payment.currency) == (4900, "USD")
    assert (payment.amount_received_minor, payment.currency_received) == (4500, "EUR")
    assert payment.exchange_rate == Decimal("1.088888888888888889")  # 49.00 / 45.00, to the column's 18 places
    assert invoice.status.value == "paid" and check_books() == []


@pytest.mark.parametrize(
    ("received_amount", "received_currency", "field"),
    [
        ("45.00", None, "received_currency"),
        (None, "EUR", "received_amount"),
        ("0", "EUR", "received_amount"),
        ("45.001", "EUR", "received_amount"),
        ("45.00", "XYZ", "received_currency"),
        ("0.001", "BTC", "received_currency"),
    ],
)
def test_a_foreign_amount_without_its_currency_or_a_bad_one_names_the_field_and_records_nothing(
    db, received_amount, received_currency, field
):
    invoice = make_invoice(amount_minor=4900)
    entry = ManualPayment(
        "wire", "49.00", "FW-BAD", received_amount=received_amount, received_currency=received_currency
    )
    with pytest.raises(ManualPaymentError) as raised:
        record_manual_payment(invoice.id, entry, actor="test")
    assert raised.value.field == field
    db.session.rollback()
    assert db.session.scalars(select(Payment)).all() == []


def test_through_the_api_the_payment_answers_what_arrived(api_token, client, db):
    invoice = make_invoice(amount_minor=10000)
    headers = {"Authorization": f"Bearer {api_token}"}
    body = {
        "method": "wire",
        "amount": "100.00",
        "reference": "FW-GBP-9",
        "received_amount": "79.00",
        "received_currency": "GBP",
    }
    answer = client.post(f"/api/v1/invoices/{invoice.id}/payments", json=body, headers=headers)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert answer.get_json()["payment"]["received"] == {
        "amount": "79.00",
        "currency": "GBP",
        "exchange_rate": "1.265822784810126582",
    }
    half = client.post(
        f"/api/v1/invoices/{invoice.id}/payments",
        json={"method": "wire", "amount": "1.00", "reference": "FW-X", "received_amount": "1.00"},
        headers=headers,
    )
    assert half.status_code == 422 and half.get_json()["error"]["field"] == "received_currency"


def test_the_operator_records_it_from_the_invoice_page_and_the_receipt_prints_the_rate(operator_client, db):
    invoice = make_invoice(amount_minor=4900)
    page = operator_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "It arrived in another currency" in page
    form = {
        "csrf_token": csrf_from(page),
        "method": "wire",
        "amount": "49.00",
        "received_on": "2026-11-20",
        "reference": "FW-EUR-7",
        "received_currency": "EUR",
        "received_amount": "",
    }
    refused = operator_client.post(f"/invoices/{invoice.id}/payments", data=form)
    assert refused.status_code == 422 and "what arrived in EUR" in refused.get_data(as_text=True)
    form["received_amount"] = "45.00"
    assert operator_client.post(f"/invoices/{invoice.id}/payments", data=form).status_code == 302
    db.session.rollback()
    payment = db.session.scalar(select(Payment).where(Payment.rail_payment_id == "FW-EUR-7"))
    assert (payment.amount_received_minor, payment.currency_received) == (4500, "EUR")
    assert "arrived as €45.00" in operator_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    receipt = " ".join(pdf_text(receipt_pdf(payment)).split())
    assert "Received €45.00 at 1 EUR = 1.0888" in receipt and "$49.00" in receipt
