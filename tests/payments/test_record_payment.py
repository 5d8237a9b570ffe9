"""Recording a manual payment (cash, check, wire, ACH, money order, bank transfer) and a refund from the invoice page."""

import io
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.billing.invoices import expire_invoice
from app.billing.models import InvoiceStatus
from app.db_types import utcnow
from app.ledger.models import Account
from app.ledger.service import balance, check_books
from app.notifications.models import OutboxMessage
from app.payments.models import Payment, PaymentStatus, Refund
from tests.factories import make_customer, make_invoice, make_manual_payment
from tests.screens import text_of, token_of

pytestmark = pytest.mark.usefixtures("fresh_reads")

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _form(token: str, **fields) -> dict:
    return {
        "csrf_token": token,
        "method": "cash",
        "amount": "49.00",
        "received_on": utcnow().date().isoformat(),
        "reference": "R-1",
        "note": "",
        **fields,
    }


def _post(client, invoice, **fields):
    token = token_of(client, f"/invoices/{invoice.id}")
    return client.post(
        f"/invoices/{invoice.id}/payments", data=_form(token, **fields), content_type="multipart/form-data"
    )


def _payments(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Payment))


def test_the_form_defaults_to_the_amount_still_owed_and_today(operator_client):
    invoice = make_invoice(amount_minor=12345)
    make_manual_payment(invoice, "23.45")
    html = operator_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert 'name="amount" type="text" value="100.00"' in html
    assert f'value="{utcnow().date().isoformat()}"' in html
    for method in ("cash", "check", "wire", "ach", "money_order", "bank_transfer"):
        assert f'value="{method}"' in html


def test_recording_a_cash_payment_pays_the_invoice_books_it_and_audits_the_operator(operator_client, operator, db):
    invoice = make_invoice(make_customer(email="ada@example.com"), amount_minor=4900)
    received = (utcnow() - timedelta(days=2)).date()
    response = _post(
        operator_client, invoice, reference="RCPT-0042", note="paid at the desk", received_on=received.isoformat()
    )
    assert response.status_code == 302 and response.headers["Location"] == f"/invoices/{invoice.id}#payments"

    db.session.refresh(invoice)
    payment = db.session.scalar(select(Payment))
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid_minor == 4900
    assert (payment.rail.value, payment.rail_payment_id, payment.amount_minor) == ("cash", "RCPT-0042", 4900)
    assert payment.received_at.date() == received and payment.note == "paid at the desk"
    assert payment.recorded_by == f"user:{operator.id}"
    assert balance(Account.CASH_CASH, "USD") == 4900 and check_books() == []
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "payment.settled"))
    assert entry.actor == f"user:{operator.id}" and entry.at is not None
    receipt = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == f"receipt:payment:{payment.id}")
    )
    assert receipt.payload["to"] == "ada@example.com"
    page = text_of(operator_client.get(f"/invoices/{invoice.id}").get_data(as_text=True))
    assert "$49.00 recorded. Invoice #" in page and "is paid; the receipt is queued" in page


def test_a_partial_payment_says_what_remains(operator_client, db):
    invoice = make_invoice(amount_minor=10000)
    _post(operator_client, invoice, amount="30", method="check", reference="CHK-1")
    page = text_of(operator_client.get(f"/invoices/{invoice.id}").get_data(as_text=True))
    assert "partly paid; $70.00 remains" in page
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.OPEN and invoice.amount_remaining_minor == 7000


def test_the_same_reference_twice_is_one_payment_and_the_form_shows_it(operator_client, db):
    invoice = make_invoice(amount_minor=10000)
    _post(operator_client, invoice, amount="30.00", method="check", reference="CHK-501")
    second = _post(operator_client, invoice, amount="30.00", method="check", reference="CHK-501")
    html = second.get_data(as_text=True)
    assert second.status_code == 200
    payment = db.session.scalar(select(Payment))
    assert "was already recorded" in html and "Nothing was recorded again" in html
    assert f'id="payment-{payment.id}" class="row-highlight' in html
    assert _payments(db) == 1 and check_books() == []
    db.session.refresh(invoice)
    assert invoice.amount_paid_minor == 3000


def test_a_reference_already_used_on_another_invoice_links_to_that_invoice(operator_client, db):
    customer = make_customer()
    first, second = make_invoice(customer, amount_minor=5000), make_invoice(customer, amount_minor=5000)
    make_manual_payment(first, "50.00", reference="WIRE-9", method="wire")
    html = _post(operator_client, second, amount="50.00", method="wire", reference="WIRE-9").get_data(as_text=True)
    assert f"/invoices/{first.id}#payment-" in html and "Nothing was recorded again" in html
    db.session.refresh(second)
    assert second.amount_paid_minor == 0


BAD_AMOUNTS = {
    "12.345": "USD has 2 decimal places; &#39;12.345&#39; has 3",
    "abc": "&#39;abc&#39; is not an amount",
    "-5": "amount must not be negative",
    "0": "amount must be greater than zero",
    "": "is not an amount",
}


def test_a_bad_amount_is_shown_on_the_amount_field_and_nothing_changes(operator_client, db):
    invoice = make_invoice(amount_minor=4900)
    audit_before = db.session.scalar(select(func.count()).select_from(AuditEntry))
    for amount, message in BAD_AMOUNTS.items():
        response = _post(operator_client, invoice, amount=amount)
        html = response.get_data(as_text=True)
        assert response.status_code == 422 and message in html, amount
        field = html[html.index("<span>Amount (USD)</span>") :]
        assert field.index(message) < field.index("</label>"), f"{amount!r}: the message sits under the Amount field"
    assert _payments(db) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == audit_before
    db.session.refresh(invoice)
    assert invoice.amount_paid_minor == 0


def test_a_missing_reference_or_a_future_date_is_refused_on_its_field(operator_client, db):
    invoice = make_invoice(amount_minor=4900)
    html = _post(operator_client, invoice, reference="  ").get_data(as_text=True)
    assert "reference is required" in html
    future = (utcnow() + timedelta(days=5)).date().isoformat()
    html = _post(operator_client, invoice, received_on=future).get_data(as_text=True)
    assert "the date received cannot be in the future" in html
    html = _post(operator_client, invoice, method="card").get_data(as_text=True)
    assert "Not a valid choice" in html
    assert _payments(db) == 0


def test_a_scan_is_stored_under_a_random_name_and_only_the_operator_downloads_it(operator_client, app, db):
    invoice = make_invoice(amount_minor=4900)
    response = _post(
        operator_client, invoice, method="check", reference="CHK-7", scan=(io.BytesIO(PDF_BYTES), "../../etc/check.pdf")
    )
    assert response.status_code == 302
    payment = db.session.scalar(select(Payment))
    stored = Path(app.config["UPLOADS_DIR"]) / payment.scan_path
    assert (
        payment.scan_path.startswith("scan-")
        and payment.scan_path.endswith(".pdf")
        and "check" not in payment.scan_path
    )
    assert stored.read_bytes() == PDF_BYTES
    download = operator_client.get(f"/payments/{payment.id}/scan")
    assert download.status_code == 200 and download.data == PDF_BYTES and download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    anonymous = app.test_client()
    assert anonymous.get(f"/payments/{payment.id}/scan").status_code == 302  # to the login page
    assert anonymous.get(f"/static/../instance/uploads/{payment.scan_path}").status_code == 404


def test_a_real_png_scan_is_accepted(operator_client, db):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, format="PNG")
    invoice = make_invoice(amount_minor=4900)
    response = _post(operator_client, invoice, scan=(io.BytesIO(buffer.getvalue()), "receipt.png"))
    assert response.status_code == 302
    assert db.session.scalar(select(Payment.scan_path)).endswith(".png")


NOT_REALLY = {
    "receipt.png": b"this is just text pretending to be an image\n",
    "truncated.png": b"\x89PNG\r\n\x1a\n" + b"not really a png",
    "logo.pdf": b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
}


def test_a_file_that_is_not_really_pdf_png_or_jpeg_is_refused_and_nothing_is_recorded(operator_client, app, db):
    invoice = make_invoice(amount_minor=4900)
    for name, content in NOT_REALLY.items():
        response = _post(operator_client, invoice, scan=(io.BytesIO(content), name))
        html = response.get_data(as_text=True)
        assert response.status_code == 422, name
        assert "only PDF, PNG, JPEG files are accepted" in html or "cannot be read" in html, name
    assert _payments(db) == 0
    uploads = Path(app.config["UPLOADS_DIR"])
    assert not uploads.exists() or not any(uploads.glob("scan-*"))


def test_an_upload_over_the_size_limit_gets_a_form_message(operator_client, app, db):
    invoice = make_invoice(amount_minor=4900)
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 4096
    try:
        response = _post(operator_client, invoice, scan=(io.BytesIO(b"%PDF-" + b"0" * 8000), "big.pdf"))
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert response.status_code == 413
    assert "larger than the" in response.get_data(as_text=True)
    assert _payments(db) == 0


def test_a_payment_for_an_expired_invoice_is_held_for_review_with_a_clear_message(operator_client, db):
    invoice = make_invoice(amount_minor=4900, now=utcnow() - timedelta(days=90))
    expire_invoice(invoice, actor="test")
    db.session.commit()
    page_before = operator_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "a payment recorded now is held for review" in page_before
    _post(operator_client, invoice, method="wire", reference="LATE-1")
    page = text_of(operator_client.get(f"/invoices/{invoice.id}").get_data(as_text=True))
    assert "held for review: invoice #" in page and "is expired" in page and "Needs review" in page
    payment = db.session.scalar(select(Payment))
    assert payment.status == PaymentStatus.NEEDS_REVIEW and check_books() == []


def test_refund_from_the_invoice_page_is_booked_against_the_chosen_payment(operator_client, operator, db):
    invoice = make_invoice(amount_minor=4900)
    payment = make_manual_payment(invoice, "49.00", method="wire", reference="W-1")
    token = token_of(operator_client, f"/invoices/{invoice.id}")
    data = {
        "csrf_token": token,
        "payment": str(payment.id),
        "amount": "10.50",
        "reference": "OUT-77",
        "reason": "discount",
    }
    response = operator_client.post(f"/invoices/{invoice.id}/refunds", data=data)
    assert response.status_code == 302
    again = operator_client.post(f"/invoices/{invoice.id}/refunds", data=data)
    assert again.status_code == 200 and "was already recorded" in again.get_data(as_text=True)
    refund = db.session.scalar(select(Refund))
    assert (refund.amount_minor, refund.rail_refund_id, refund.recorded_by) == (1050, "OUT-77", f"user:{operator.id}")
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 1
    assert balance(Account.REFUNDS, "USD") == 1050 and check_books() == []


def test_a_bad_refund_amount_is_refused_on_its_field(operator_client, db):
    invoice = make_invoice(amount_minor=4900)
    payment = make_manual_payment(invoice, "49.00")
    token = token_of(operator_client, f"/invoices/{invoice.id}")
    for amount, message in {
        "60.00": "at most 49.00 USD is left to refund",
        "1.001": "USD has 2 decimal places",
        "x": "is not an amount",
    }.items():
        response = operator_client.post(
            f"/invoices/{invoice.id}/refunds",
            data={"csrf_token": token, "payment": str(payment.id), "amount": amount, "reference": "OUT-1"},
        )
        assert response.status_code == 422 and message in response.get_data(as_text=True), amount
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0


def test_a_payment_of_another_invoice_cannot_be_refunded_from_this_one(operator_client, db):
    customer = make_customer()
    this, other = make_invoice(customer, amount_minor=4900), make_invoice(customer, amount_minor=4900)
    make_manual_payment(this, "49.00")
    foreign = make_manual_payment(other, "49.00")
    token = token_of(operator_client, f"/invoices/{this.id}")
    response = operator_client.post(
        f"/invoices/{this.id}/refunds",
        data={"csrf_token": token, "payment": str(foreign.id), "amount": "1.00", "reference": "OUT-1"},
    )
    assert response.status_code == 422 and "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0
