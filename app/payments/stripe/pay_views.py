"""The customer's card routes under the pay link (no login: the unguessable pay token is the key).

/pay/<token>/card shows the invoice with the card form (the same partial the pay page includes); posting it opens
Stripe Checkout; Stripe sends the customer back to /return, which settles at once when Stripe says paid.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.routing import BuildError

from app.billing.models import Invoice, InvoiceStatus
from app.extensions import db, limiter
from app.payments.stripe.checkout import (
    CheckoutError,
    apply_checkout_return,
    fetch_checkout,
    portal_url,
    start_card_checkout,
)
from app.payments.stripe.client import card_rail_enabled
from app.payments.stripe.forms import CardCheckoutForm, ManageCardForm
from app.settings.service import get_setting

bp = Blueprint("card_checkout", __name__)

#: token_urlsafe(24) is 32 characters; anything far off needs no database round trip
TOKEN_LENGTHS = range(16, 65)
RETURN_MESSAGES = {
    "paid": ("success", "Payment received, thank you. Your receipt is on its way by email."),
    "declined": ("error", "Your card was declined. Nothing was charged; you can try another card."),
    "waiting": ("info", "Stripe is still confirming your payment; this page shows it as paid once it does."),
}


def _invoice(token: str) -> Invoice:
    if len(token) not in TOKEN_LENGTHS:
        abort(404)
    invoice = db.session.scalar(select(Invoice).where(Invoice.pay_token == token))
    if invoice is None or invoice.status == InvoiceStatus.DRAFT:
        abort(404)
    return invoice


def _public_url(endpoint: str, **values) -> str:
    """Stripe sends the customer back here: the installation's public address, not the one the request used."""
    return current_app.config["PUBLIC_URL"].rstrip("/") + url_for(endpoint, **values)


def _page(invoice: Invoice, status: int = 200, error: str | None = None):
    try:
        invoice_url = url_for("checkout.pay_page", token=invoice.pay_token)
    except BuildError:  # the pay page arrives with the screens; until then this page stands alone
        invoice_url = None
    response = make_response(
        render_template(
            "stripe/card_page.html",
            invoice=invoice,
            card_enabled=card_rail_enabled(),
            business_name=get_setting("business.name"),
            invoice_url=invoice_url,
            error=error,
        ),
        status,
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/pay/<token>/card")
def card_page(token: str):
    invoice = _invoice(token)
    if request.args.get("canceled"):
        flash("Card payment canceled: nothing was charged.", "info")
    return _page(invoice)


@bp.route("/pay/<token>/card", methods=["POST"])
@limiter.limit("20 per minute")
def start(token: str):
    invoice = _invoice(token)
    form = CardCheckoutForm()
    if not form.validate():
        return _page(invoice, 400, "This form expired. Please try again.")
    try:
        url = start_card_checkout(
            invoice,
            save_card=bool(form.save_card.data),
            # Stripe fills in {CHECKOUT_SESSION_ID}; url_for would escape the braces.
            success_url=_public_url("card_checkout.returned", token=token) + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=_public_url("card_checkout.card_page", token=token, canceled=1),
        )
    except CheckoutError as exc:
        db.session.rollback()
        return _page(invoice, 409 if exc.field == "invoice" else 400 if exc.field == "currency" else 503, str(exc))
    db.session.commit()
    return redirect(url, 303)


@bp.route("/pay/<token>/card/return")
def returned(token: str):
    try:
        # Stripe first, with no transaction open; then the books.
        session, intent = fetch_checkout(request.args.get("session_id", ""))
        state = apply_checkout_return(_invoice(token), session, intent)
    except CheckoutError as exc:
        db.session.rollback()
        return _page(_invoice(token), 400 if exc.field == "session_id" else 503, str(exc))
    db.session.commit()
    flash(RETURN_MESSAGES[state][1], RETURN_MESSAGES[state][0])
    return redirect(url_for("card_checkout.card_page", token=token), 303)


@bp.route("/pay/<token>/card/manage", methods=["POST"])
@limiter.limit("20 per minute")
def manage(token: str):
    invoice = _invoice(token)
    if not ManageCardForm().validate():
        return _page(invoice, 400, "This form expired. Please try again.")
    try:
        url = portal_url(invoice.customer, _public_url("card_checkout.card_page", token=token))
    except CheckoutError as exc:
        return _page(invoice, 409 if exc.field == "customer" else 503, str(exc))
    return redirect(url, 303)
