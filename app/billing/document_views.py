"""PDF downloads of invoices and receipts: the operator's, and the customer's through the pay-page token."""

from __future__ import annotations

from flask import Blueprint, Response, abort

from app.auth.guards import admin_required
from app.billing import documents
from app.billing.models import Invoice
from app.extensions import db, limiter
from app.payments.models import Payment

bp = Blueprint("documents", __name__)

#: the customer's routes are public (the token is the key) and each render costs ~0.1-0.3 s of CPU
CUSTOMER_RATE_LIMIT = "30 per minute"


def _pdf(content: bytes, filename: str) -> Response:
    return Response(
        content,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            # Behind a token or a login: never in a shared cache, never indexed.
            "Cache-Control": "private, no-store",
            "X-Robots-Tag": "noindex",
        },
    )


@bp.route("/invoices/<int:invoice_id>/invoice.pdf")
@admin_required
def operator_invoice_pdf(invoice_id: int):
    invoice = db.session.get(Invoice, invoice_id) or abort(404)
    return _pdf(documents.invoice_pdf(invoice), documents.invoice_filename(invoice))


@bp.route("/payments/<int:payment_id>/receipt.pdf")
@admin_required
def operator_receipt_pdf(payment_id: int):
    payment = db.session.get(Payment, payment_id) or abort(404)
    return _pdf(documents.receipt_pdf(payment), documents.receipt_filename(payment))


@bp.route("/pay/<token>/invoice.pdf")
@limiter.limit(CUSTOMER_RATE_LIMIT)
def customer_invoice_pdf(token: str):
    invoice = documents.invoice_for_pay_token(token) or abort(404)
    return _pdf(documents.invoice_pdf(invoice), documents.invoice_filename(invoice))


@bp.route("/pay/<token>/receipts/<int:payment_id>.pdf")
@limiter.limit(CUSTOMER_RATE_LIMIT)
def customer_receipt_pdf(token: str, payment_id: int):
    payment = documents.receipt_for_pay_token(token, payment_id) or abort(404)
    return _pdf(documents.receipt_pdf(payment), documents.receipt_filename(payment))
