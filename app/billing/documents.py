"""Invoice and receipt PDFs, rendered by WeasyPrint from templates/pdf/ with the business's details from settings.

Documents show the state at the moment they are rendered (an invoice paid since it was issued says PAID).
They fetch nothing: the logo is embedded as a data: URI and every other URL is refused.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from weasyprint import HTML, URLFetcher

from app.billing.links import pay_url
from app.billing.models import Invoice, InvoiceStatus
from app.db_types import utcnow
from app.extensions import db
from app.payments.models import Payment, PaymentStatus
from app.settings.service import get_setting
from app.templating import business_context, render_strict

#: rails the invoice's bank-transfer box applies to
_BANK_RAILS = {"bank_transfer", "wire", "ach"}

_PAYMENT_STATUS_LABELS = {
    PaymentStatus.SETTLED: "Paid",
    PaymentStatus.NEEDS_REVIEW: "Under review",
    PaymentStatus.CREDITED: "Credited",
    PaymentStatus.REFUNDED: "Refunded",
    PaymentStatus.PARTIALLY_REFUNDED: "Partially refunded",
    PaymentStatus.FAILED: "Failed",
}


def invoice_pdf(invoice: Invoice) -> bytes:
    return _pdf(render_strict("pdf/invoice.html", **invoice_document_context(invoice)))


def receipt_pdf(payment: Payment) -> bytes:
    return _pdf(render_strict("pdf/receipt.html", **receipt_document_context(payment)))


def invoice_filename(invoice: Invoice) -> str:
    return f"invoice-{invoice.number}.pdf"


def receipt_filename(payment: Payment) -> str:
    return f"receipt-R-{payment.id}.pdf"


def invoice_status(invoice: Invoice) -> tuple[str, str]:
    """(css key, label) as the customer reads it: an open invoice past its due date is overdue."""
    if invoice.status == InvoiceStatus.OPEN and invoice.due_at and invoice.due_at < utcnow():
        return "overdue", "Overdue"
    return invoice.status.value, invoice.status.value.capitalize()


def invoice_document_context(invoice: Invoice) -> dict[str, Any]:
    payments = sorted((p for p in invoice.payments if p.applied_minor > 0), key=lambda p: (p.received_at, p.id))
    status_key, status_label = invoice_status(invoice)
    is_open = invoice.status == InvoiceStatus.OPEN
    bank_rails = set(get_setting("rails.enabled") or []) & _BANK_RAILS
    return {
        "business": business_context(with_logo=True),
        "invoice": invoice,
        "customer": invoice.customer,
        "status_key": status_key,
        "status_label": status_label,
        "amount_due_now": invoice.amount_remaining_minor if is_open else 0,
        "payments": payments,
        # amount_paid also counts customer credit applied to the invoice, which no payment row carries
        "credit_applied_minor": max(0, invoice.amount_paid_minor - sum(p.applied_minor for p in payments)),
        "pay_url": pay_url(invoice) if is_open else None,
        "bank_instructions": (get_setting("bank.instructions") or "").strip() if is_open and bank_rails else "",
    }


def receipt_document_context(payment: Payment) -> dict[str, Any]:
    invoice = payment.invoice
    held = payment.status == PaymentStatus.NEEDS_REVIEW
    balance_shown = invoice is not None and invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.PAID)
    return {
        "business": business_context(with_logo=True),
        "payment": payment,
        "invoice": invoice,
        "show_balance": balance_shown,
        "customer": invoice.customer if invoice is not None else _customer_of(payment),
        "status_key": payment.status.value,
        "status_label": _PAYMENT_STATUS_LABELS.get(payment.status, payment.status.value.replace("_", " ").capitalize()),
        "refunds": [r for r in payment.refunds if r.status.value == "succeeded"],
        "credit_minor": 0 if held else payment.amount_minor - payment.applied_minor,
        "held_minor": payment.amount_minor if held else 0,
        "invoice_balance_minor": invoice.amount_remaining_minor if balance_shown else 0,
    }


def _customer_of(payment: Payment):
    from app.customers.models import Customer

    return db.session.get(Customer, payment.customer_id)


def _pdf(html: str) -> bytes:
    # Only data: URIs (the embedded logo): a document never reaches the network or the file system.
    return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=("data",))).write_pdf()


def invoice_for_pay_token(token: str) -> Invoice | None:
    """The invoice a customer's pay link opens; drafts are not issued yet, so they stay invisible."""
    if not token or len(token) > 64:
        return None
    invoice = db.session.scalar(select(Invoice).where(Invoice.pay_token == token))
    return None if invoice is None or invoice.status == InvoiceStatus.DRAFT else invoice


def receipt_for_pay_token(token: str, payment_id: int) -> Payment | None:
    """A receipt through a pay link: only for a payment made on that very invoice, and only for money received."""
    invoice = invoice_for_pay_token(token)
    if invoice is None:
        return None
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.invoice_id != invoice.id or payment.status == PaymentStatus.FAILED:
        return None
    return payment
