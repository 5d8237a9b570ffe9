"""A PaymentIntent's current state, applied to our books: settled through settle_payment, or a decline recorded.

Every path that learns of a card payment (the webhook, the customer's return from Checkout, an off-session charge,
the hourly sweep) ends here with the PaymentIntent as Stripe shows it now, so their order does not matter and
settlement's uniqueness on (card, pi_...) makes any repeat a no-op.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.billing.models import Invoice, InvoiceStatus, SubscriptionStatus
from app.billing.subscriptions import mark_past_due
from app.customers.models import Customer
from app.db_types import utcnow
from app.extensions import db
from app.money import MoneyError, format_money, normalise_currency
from app.payments.failures import record_failed_payment
from app.payments.models import Rail
from app.payments.settlement import IncomingPayment, SettlementOutcome, settle_payment
from app.payments.stripe.outcome import Outcome
from app.payments.stripe.saved_cards import save_card

#: the metadata key naming our invoice (its reference code) on Checkout Sessions and PaymentIntents
INVOICE_METADATA_KEY = "advancia_invoice"
#: what to expand when fetching a PaymentIntent to settle it: the charge (card, time) and its fee
SETTLE_EXPAND = ["latest_charge.balance_transaction"]


def invoice_for_reference(reference: str | None) -> Invoice | None:
    if not reference:
        return None
    return db.session.scalar(select(Invoice).where(Invoice.reference_code == reference))


def apply_payment_intent(pi: dict[str, Any], *, actor: str) -> Outcome:
    """`pi` is the PaymentIntent as a plain dict, fetched with SETTLE_EXPAND."""
    status = pi.get("status")
    if status == "succeeded":
        return settle_intent(pi, actor=actor)
    if status == "requires_payment_method" and pi.get("last_payment_error"):
        return record_decline(pi, actor=actor)
    if status == "canceled":
        return Outcome.done(f"PaymentIntent {pi['id']} was canceled; nothing to settle")
    return Outcome.done(f"PaymentIntent {pi['id']} is {status}; waiting for Stripe to finish it")


def settle_intent(pi: dict[str, Any], *, actor: str) -> Outcome:
    reference = (pi.get("metadata") or {}).get(INVOICE_METADATA_KEY)
    invoice = invoice_for_reference(reference)
    if invoice is None:
        return Outcome.unmatched(f"PaymentIntent {pi['id']} names no invoice of ours (metadata {reference!r})")
    try:
        currency = normalise_currency(pi["currency"])
    except MoneyError:
        currency = str(pi["currency"]).upper()
    if currency != invoice.currency:
        return Outcome.unmatched(
            f"PaymentIntent {pi['id']} is in {currency} but invoice {invoice.number} is in {invoice.currency}; "
            "record it by hand"
        )
    amount = int(pi["amount_received"])
    charge = pi.get("latest_charge") if isinstance(pi.get("latest_charge"), dict) else {}
    result = settle_payment(
        invoice.id,
        IncomingPayment(
            rail=Rail.CARD,
            rail_payment_id=pi["id"],
            amount_received_minor=amount,
            currency_received=currency,
            amount_minor=amount,
            fee_minor=_fee(charge, currency, amount),
            received_at=_timestamp(charge.get("created") or pi.get("created")),
            note=_card_label(charge),
        ),
        actor=actor,
    )
    _link_customer(invoice.customer, pi, actor=actor)
    money = format_money(amount, currency)
    if result.outcome == SettlementOutcome.DUPLICATE:
        return Outcome.done(f"already settled as payment {result.payment.id}; nothing changed")
    if result.outcome == SettlementOutcome.NEEDS_REVIEW:
        return Outcome.done(f"{money} held for review as payment {result.payment.id}: {result.payment.review_reason}")
    paid = "paid in full" if result.outcome == SettlementOutcome.PAID else "partly paid"
    return Outcome.done(f"settled {money} on invoice {invoice.number} ({paid}) as payment {result.payment.id}")


def record_decline(pi: dict[str, Any], *, actor: str, now: datetime | None = None) -> Outcome:
    """A declined attempt: recorded on the invoice; an unpaid renewal whose period has begun starts dunning."""
    reference = (pi.get("metadata") or {}).get(INVOICE_METADATA_KEY)
    invoice = invoice_for_reference(reference)
    if invoice is None:
        return Outcome.unmatched(f"declined PaymentIntent {pi['id']} names no invoice of ours (metadata {reference!r})")
    error = pi.get("last_payment_error") or {}
    reason = decline_reason(error)
    if invoice.status != InvoiceStatus.OPEN:
        return Outcome.done(f"card declined ({reason}) but invoice {invoice.number} is {invoice.status}; nothing to do")
    record_card_decline(invoice, pi, error, actor=actor)
    return Outcome.done(f"card declined ({reason}); {start_dunning(invoice, actor=actor, now=now)}")


def record_card_decline(invoice: Invoice, pi: dict[str, Any], error: dict[str, Any], *, actor: str) -> bool:
    """A FAILED card payment for the declined attempt, for the operator's eye (never in the books); True when new.

    Named by the declined charge (ch_...): each attempt has its own, while the PaymentIntent can still succeed later
    (the customer retries on the same Checkout page) and its pi_... id then names the settled payment. Our
    off-session call and Stripe's payment_intent.payment_failed event report the same charge: recorded once."""
    attempt = error.get("charge")
    attempt = attempt.get("id") if isinstance(attempt, dict) else attempt
    amount = pi.get("amount") if isinstance(pi.get("amount"), int) and pi["amount"] > 0 else None
    _, created = record_failed_payment(
        invoice.id,
        Rail.CARD,
        attempt or f"{pi.get('id')}:{error.get('decline_code') or error.get('code') or 'declined'}",
        amount or invoice.amount_remaining_minor or invoice.amount_due_minor,
        reason=decline_reason(error),
        actor=actor,
    )
    return created


def start_dunning(invoice: Invoice, *, actor: str, now: datetime | None = None) -> str:
    """mark_past_due for a subscription invoice whose period has begun; a payment made ahead of time that fails
    leaves the subscription alone (the renewal job decides at period end)."""
    now = now or utcnow()
    sub = invoice.subscription
    if sub is None:
        return f"invoice {invoice.number} stays open"
    if sub.status == SubscriptionStatus.PAST_DUE:
        return f"subscription {sub.id} is already past due; dunning continues"
    if sub.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING) and (
        invoice.period_start is not None and invoice.period_start <= now
    ):
        mark_past_due(sub, actor=actor, now=now)
        return f"subscription {sub.id} is past due: dunning starts"
    return f"subscription {sub.id} is {sub.status}; invoice {invoice.number} stays open"


def decline_reason(error: dict[str, Any]) -> str:
    code = error.get("decline_code") or error.get("code") or "declined"
    message = error.get("message") or ""
    return f"{code}: {message}" if message else code


def _link_customer(customer: Customer, pi: dict[str, Any], *, actor: str) -> None:
    stripe_customer = pi.get("customer")
    if stripe_customer and not customer.stripe_customer_id:
        taken = db.session.scalar(select(Customer.id).where(Customer.stripe_customer_id == stripe_customer))
        if taken is None:
            customer.stripe_customer_id = stripe_customer
    save_card(customer, pi, actor=actor)


def _fee(charge: dict[str, Any], currency: str, amount: int) -> int:
    """Stripe's fee from the charge's balance transaction; only when it is in the invoice currency (a fee taken
    in the account's settlement currency is not ours to convert here) and never above the payment."""
    txn = charge.get("balance_transaction") if isinstance(charge, dict) else None
    if not isinstance(txn, dict) or str(txn.get("currency", "")).upper() != currency:
        return 0
    return max(0, min(int(txn.get("fee") or 0), amount))


def _card_label(charge: dict[str, Any]) -> str | None:
    card = ((charge or {}).get("payment_method_details") or {}).get("card") or {}
    if not card.get("last4"):
        return None
    return f"{str(card.get('brand', 'card')).title()} •••• {card['last4']}"


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None
