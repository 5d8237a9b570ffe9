"""The customer pays an invoice by card on Stripe's hosted Checkout page, and may keep the card for renewals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import stripe

from app.audit.service import record_audit
from app.billing.models import Invoice, InvoiceStatus
from app.customers.models import Customer
from app.db_types import utcnow
from app.payments.stripe.client import CardRailUnavailable, card_rail_enabled, stripe_client
from app.payments.stripe.handlers import fetch_intent
from app.payments.stripe.intents import INVOICE_METADATA_KEY, apply_payment_intent

ACTOR = "customer:pay-page"
#: currencies whose Stripe amount is not the ISO minor unit (ISK), or that Stripe cannot charge (crypto)
NOT_CHARGEABLE = {"ISK", "BTC", "ETH", "USDC"}


class CheckoutError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def ensure_stripe_customer(customer: Customer) -> str:
    """The customer's Stripe customer, created once (the key survives a retry; the id is stored by the caller's
    commit)."""
    if customer.stripe_customer_id:
        return customer.stripe_customer_id
    created = stripe_client().v1.customers.create(
        params={
            "email": customer.email,
            "name": customer.name or customer.email,
            "metadata": {"advancia_customer": customer.external_id},
        },
        options={"idempotency_key": f"advancia-customer:{customer.id}:{int(customer.created_at.timestamp())}"},
    )
    customer.stripe_customer_id = created["id"]
    record_audit("customer.stripe_linked", customer, actor=ACTOR, stripe_customer=created["id"])
    return created["id"]


def start_card_checkout(
    invoice: Invoice, *, save_card: bool, success_url: str, cancel_url: str, now: datetime | None = None
) -> str:
    """Creates the Checkout Session for what the invoice still owes; returns the URL to send the customer to.

    The idempotency key holds the invoice, the amount, the choice and the day: a double click is one session.
    """
    if not card_rail_enabled():
        raise CheckoutError("rail", "card payments are not available for this invoice")
    if invoice.status != InvoiceStatus.OPEN or invoice.amount_remaining_minor <= 0:
        raise CheckoutError("invoice", f"invoice {invoice.number} has nothing left to pay")
    if invoice.currency in NOT_CHARGEABLE:
        raise CheckoutError("currency", f"invoices in {invoice.currency} cannot be paid by card")
    now = now or utcnow()
    amount = invoice.amount_remaining_minor
    metadata = {INVOICE_METADATA_KEY: invoice.reference_code}
    intent_data: dict[str, Any] = {"metadata": metadata, "description": f"Invoice {invoice.number}"}
    if save_card:
        intent_data["setup_future_usage"] = "off_session"
    try:
        session = stripe_client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "customer": ensure_stripe_customer(invoice.customer),
                "client_reference_id": invoice.reference_code,
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": invoice.currency.lower(),
                            "unit_amount": amount,
                            "product_data": {"name": f"Invoice {invoice.number} ({invoice.reference_code})"},
                        },
                    }
                ],
                "metadata": metadata,
                "payment_intent_data": intent_data,
                "payment_method_types": ["card"],
                "success_url": success_url,
                "cancel_url": cancel_url,
            },
            options={
                "idempotency_key": f"advancia-checkout:{invoice.reference_code}:{amount}:{int(save_card)}:{now:%Y%m%d}"
            },
        )
    except CardRailUnavailable as exc:
        raise CheckoutError("rail", str(exc)) from exc
    except stripe.StripeError as exc:
        raise CheckoutError("stripe", f"the card payment could not start: {exc.user_message or exc}") from exc
    record_audit("invoice.card_checkout", invoice, actor=ACTOR, session=session["id"], amount_minor=amount)
    return session["url"]


def fetch_checkout(session_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The session and its PaymentIntent as Stripe shows them now (no database work: call it first)."""
    if not session_id.startswith("cs_") or len(session_id) > 255:
        raise CheckoutError("session_id", "not a Checkout Session id")
    try:
        client = stripe_client()
        session = client.v1.checkout.sessions.retrieve(session_id).to_dict()
        pi_id = session.get("payment_intent")
        return session, fetch_intent(client, pi_id) if pi_id else None
    except CardRailUnavailable as exc:
        raise CheckoutError("rail", str(exc)) from exc
    except stripe.InvalidRequestError as exc:
        raise CheckoutError("session_id", "no such Checkout Session") from exc
    except stripe.StripeError as exc:
        raise CheckoutError("stripe", f"Stripe did not answer: {exc.user_message or exc}") from exc


def apply_checkout_return(invoice: Invoice, session: dict[str, Any], pi: dict[str, Any] | None) -> str:
    """The customer is back from Checkout: settle at once when Stripe says paid (the webhook then finds it done).

    Returns "paid", "declined" or "waiting".
    """
    if (session.get("metadata") or {}).get(INVOICE_METADATA_KEY) != invoice.reference_code:
        raise CheckoutError("session_id", "this Checkout Session is not for this invoice")
    if pi is None:
        return "waiting"
    apply_payment_intent(pi, actor=ACTOR)
    if pi["status"] == "succeeded":
        return "paid"
    return "declined" if pi.get("last_payment_error") else "waiting"


def portal_url(customer: Customer, return_url: str) -> str:
    """A Stripe customer-portal session where the customer replaces or removes the saved card."""
    if not customer.stripe_customer_id:
        raise CheckoutError("customer", "no card is on file yet")
    try:
        session = stripe_client().v1.billing_portal.sessions.create(
            params={"customer": customer.stripe_customer_id, "return_url": return_url}
        )
    except CardRailUnavailable as exc:
        raise CheckoutError("rail", str(exc)) from exc
    except stripe.StripeError as exc:
        raise CheckoutError("stripe", f"the card page could not open: {exc.user_message or exc}") from exc
    return session["url"]
