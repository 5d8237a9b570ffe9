"""The customer's pay page, /pay/<token>: no login, the unguessable token is the key. It shows this one invoice and
the ways to pay it, and nothing of the operator's own records (notes, other customers, internal ids)."""

from __future__ import annotations

from flask import Blueprint, abort, make_response, render_template, send_file
from sqlalchemy import select

from app.billing.listing import display_status
from app.billing.models import Invoice, InvoiceStatus
from app.checkout.options import option_title, pay_options
from app.extensions import db
from app.payments.models import Payment, PaymentStatus
from app.settings.editing import logo_file
from app.settings.service import get_setting
from app.uploads import kind_of_stored

bp = Blueprint("checkout", __name__)

#: payments a customer gets a receipt for: money that reached their invoice
RECEIPTED = (PaymentStatus.SETTLED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)
#: token_urlsafe(24) gives 32 characters; anything far off is not a token and needs no database round trip
TOKEN_LENGTHS = range(16, 65)


@bp.route("/pay/<token>")
def pay_page(token: str):
    if len(token) not in TOKEN_LENGTHS:
        abort(404)
    invoice = db.session.scalar(select(Invoice).where(Invoice.pay_token == token))
    if invoice is None or invoice.status == InvoiceStatus.DRAFT:
        abort(404)
    receipts = receipt_payments(invoice)
    options = [(option, option_title(option, rails), rails) for option, rails in pay_options(invoice)]
    response = make_response(
        render_template(
            "checkout/pay.html",
            invoice=invoice,
            state=display_status(invoice),
            receipts=receipts,
            options=options,
            business={key: get_setting(f"business.{key}") for key in ("name", "address", "email", "tax_id")},
            bank_instructions=get_setting("bank.instructions"),
            has_logo=logo_file() is not None,
        )
    )
    # A page about one person's bill: no shared caches, no search engines.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/branding/logo")
def logo():
    """The business logo, for the pay page: the one uploaded file that is public, checked as PNG/JPEG on upload."""
    path = logo_file()
    if path is None:
        abort(404)
    response = send_file(path, mimetype=kind_of_stored(path.name).mimetype, max_age=3600)
    response.headers["Content-Disposition"] = "inline"
    return response


def receipt_payments(invoice: Invoice) -> list[Payment]:
    """Each payment that reached the invoice has its receipt (the PDF routes live with the documents)."""
    return [p for p in invoice.payments if p.status in RECEIPTED and p.applied_minor > 0]
