"""The card a customer keeps on file: saved from a Checkout payment (setup_future_usage), replaced in Stripe's
customer portal, forgotten when detached."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.audit.service import record_audit
from app.customers.models import Customer
from app.extensions import db
from app.payments.stripe.outcome import Outcome


def _id(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


def save_card(customer: Customer, pi: dict[str, Any], *, actor: str) -> bool:
    """The customer asked to keep the card (setup_future_usage=off_session): renewals and dunning charge it."""
    pm_id = _id(pi.get("payment_method"))
    if not pm_id or pi.get("setup_future_usage") != "off_session" or pi.get("status") != "succeeded":
        return False
    if pi.get("customer") != customer.stripe_customer_id or customer.stripe_payment_method_id == pm_id:
        return False
    customer.stripe_payment_method_id = pm_id
    record_audit("customer.card_saved", customer, actor=actor, payment_method=pm_id, payment_intent=pi["id"])
    return True


def apply_customer_update(stripe_customer: dict[str, Any], *, actor: str) -> Outcome:
    """customer.updated: the portal made another card the default; renewals charge that one from now on."""
    customer = db.session.scalar(select(Customer).where(Customer.stripe_customer_id == stripe_customer["id"]))
    if customer is None:
        return Outcome.unmatched(f"Stripe customer {stripe_customer['id']} is not linked to a customer of ours")
    pm_id = _id((stripe_customer.get("invoice_settings") or {}).get("default_payment_method"))
    if not pm_id or pm_id == customer.stripe_payment_method_id:
        return Outcome.done(f"saved card of customer {customer.external_id} unchanged")
    customer.stripe_payment_method_id = pm_id
    record_audit("customer.card_saved", customer, actor=actor, payment_method=pm_id, source="customer portal")
    return Outcome.done(f"customer {customer.external_id} now pays renewals with {pm_id}")


def forget_payment_method(payment_method: dict[str, Any], *, actor: str) -> Outcome:
    """payment_method.detached: the card is gone; renewals stop charging it."""
    customers = db.session.scalars(select(Customer).where(Customer.stripe_payment_method_id == payment_method["id"]))
    forgotten = []
    for customer in customers:
        customer.stripe_payment_method_id = None
        record_audit("customer.card_removed", customer, actor=actor, payment_method=payment_method["id"])
        forgotten.append(customer.external_id)
    if not forgotten:
        return Outcome.done(f"{payment_method['id']} was not a saved card of ours")
    return Outcome.done(f"{payment_method['id']} removed from customer {', '.join(forgotten)}")
