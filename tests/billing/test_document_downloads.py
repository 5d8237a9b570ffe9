"""Invoice and receipt PDFs: what they say, who may download them (operator; customer by pay token)."""

import base64
import shutil
import subprocess
from decimal import Decimal

import pytest

from app.billing.documents import invoice_pdf, receipt_pdf
from app.billing.invoices import LineInput, create_invoice, void_invoice
from app.payments.models import Rail
from app.payments.settlement import IncomingPayment, settle_payment
from app.settings.service import set_setting
from tests.factories import make_customer, make_invoice, make_settled_payment

# A 1x1 PNG, enough for WeasyPrint to draw an image.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def pdf_text(pdf: bytes) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (Debian poppler-utils) is not installed")
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


def pdf_images(pdf: bytes, tmp_path) -> int:
    if not shutil.which("pdfimages"):
        pytest.skip("pdfimages (Debian poppler-utils) is not installed")
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in listing.splitlines()[2:] if line.split()[2] == "image")  # not its alpha mask


def test_invoice_pdf_shows_the_business_the_customer_the_lines_and_what_is_due(db, tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    set_setting("business.name", "Lovelace Labs Ltd", actor="test")
    set_setting("business.tax_id", "GB 123 4567 89", actor="test")
    set_setting("business.logo_path", str(logo), actor="test")
    customer = make_customer(name="Charles Babbage", email="charles@example.com", currency="CHF")
    invoice = create_invoice(
        customer,
        "CHF",
        [LineInput("Difference engine, design review", 120_000), LineInput("Punched cards", 250, quantity=4)],
        actor="test",
        memo="PO 1822-7",
    )
    db.session.commit()
    make_settled_payment(invoice, 21_000, rail="bank_transfer")

    pdf = invoice_pdf(invoice)

    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    for expected in (
        "Lovelace Labs Ltd",
        "Tax ID: GB 123 4567 89",
        "INVOICE",
        f"No. {invoice.number}",
        invoice.reference_code,
        "Charles Babbage",
        "Difference engine, design review",
        "1,200.00 CHF",  # a currency without a symbol reads "1,200.00 CHF"
        "2.50 CHF",
        "10.00 CHF",
        "1,210.00 CHF",  # total
        "-210.00 CHF",  # paid
        "1,000.00 CHF",  # still due
        "Bank transfer",
        f"/pay/{invoice.pay_token}",
        "PO 1822-7",
        "Page 1 of 1",
    ):
        assert expected in text, expected
    assert pdf_images(pdf, tmp_path) == 1  # the logo, embedded


def test_a_paid_invoice_says_paid_and_offers_no_pay_link_and_a_void_one_is_stamped(db):
    invoice = make_invoice(amount_minor=4900)
    make_settled_payment(invoice)
    text = pdf_text(invoice_pdf(invoice))
    assert "PAID" in text and "/pay/" not in text and "Amount due" in text and "$0.00" in text

    other = make_invoice(amount_minor=4900)
    void_invoice(other, actor="test")
    text = pdf_text(invoice_pdf(other))
    assert "VOID" in text and "/pay/" not in text


def test_receipt_pdf_of_a_crypto_payment_shows_what_arrived_and_the_rate(db):
    invoice = make_invoice(amount_minor=10_000)
    result = settle_payment(
        invoice.id,
        IncomingPayment(
            rail=Rail.BTC,
            rail_payment_id="f00dbabe:1",
            amount_received_minor=15_000,  # satoshi
            currency_received="BTC",
            amount_minor=10_000,
            exchange_rate=Decimal("66666.666666666667"),
        ),
        actor="test",
    )
    db.session.commit()
    text = pdf_text(receipt_pdf(result.payment))
    for expected in (
        "RECEIPT",
        f"R-{result.payment.id}",
        "Bitcoin (BTC)",
        "$100.00",
        "0.00015000 BTC",
        "1 BTC = 66,666.66666667 USD",
        "f00dbabe:1",
        f"Invoice {invoice.number} balance",
    ):
        assert expected in text, expected


def test_the_operator_downloads_invoice_and_receipt_pdfs(operator_client, db):
    invoice = make_invoice(amount_minor=4900)
    payment = make_settled_payment(invoice)
    response = operator_client.get(f"/invoices/{invoice.id}/invoice.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert response.headers["Content-Disposition"] == f'inline; filename="invoice-{invoice.number}.pdf"'
    assert response.headers["Cache-Control"] == "private, no-store"
    response = operator_client.get(f"/payments/{payment.id}/receipt.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    assert operator_client.get("/invoices/999999/invoice.pdf").status_code == 404
    assert operator_client.get("/payments/999999/receipt.pdf").status_code == 404


def test_operator_pdf_routes_send_visitors_to_login(client, db):
    invoice = make_invoice()
    payment = make_settled_payment(invoice)
    for url in (f"/invoices/{invoice.id}/invoice.pdf", f"/payments/{payment.id}/receipt.pdf"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), url


def test_the_customer_downloads_their_invoice_and_receipts_by_pay_token(client, db):
    invoice = make_invoice(amount_minor=10_000)
    first = make_settled_payment(invoice, 4_000)
    second = make_settled_payment(invoice, 6_000)
    response = client.get(f"/pay/{invoice.pay_token}/invoice.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    assert str(invoice.number) in pdf_text(response.data)
    for payment in (first, second):
        response = client.get(f"/pay/{invoice.pay_token}/receipts/{payment.id}.pdf")
        assert response.status_code == 200 and f"R-{payment.id}" in pdf_text(response.data)


def test_a_pay_token_opens_no_other_invoices_receipt_and_no_draft(client, db):
    mine = make_invoice(amount_minor=4900)
    theirs = make_invoice(amount_minor=4900)
    their_payment = make_settled_payment(theirs)
    assert client.get(f"/pay/{mine.pay_token}/receipts/{their_payment.id}.pdf").status_code == 404
    assert client.get(f"/pay/{theirs.pay_token}/receipts/{their_payment.id}.pdf").status_code == 200
    assert client.get("/pay/not-a-token/invoice.pdf").status_code == 404
    assert client.get("/pay/not-a-token/receipts/1.pdf").status_code == 404

    draft = create_invoice(make_customer(), "USD", [LineInput("Draft work", 100)], actor="test", finalize=False)
    db.session.commit()
    assert client.get(f"/pay/{draft.pay_token}/invoice.pdf").status_code == 404


def test_a_logo_setting_that_is_not_an_image_is_left_out_not_fatal(db, tmp_path):
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("just text")
    invoice = make_invoice()
    for path in (str(not_an_image), str(tmp_path / "missing.png")):
        set_setting("business.logo_path", path, actor="test")
        pdf = invoice_pdf(invoice)
        assert pdf.startswith(b"%PDF-") and pdf_images(pdf, tmp_path) == 0


def test_the_public_pdf_routes_are_rate_limited(client, db):
    statuses = [client.get("/pay/no-such-token/invoice.pdf").status_code for _ in range(31)]
    assert statuses[:30] == [404] * 30 and statuses[30] == 429
