"""Charging a saved card off-session, for renewals and dunning retries (the billing jobs' card-on-file hook).

app/billing/card_on_file.py's hook calls it. A succeeded charge is settled in the caller's transaction before this
returns (the caller commits). The idempotency key holds the invoice, the amount and the UTC day: a job run twice on
one day charges once (and gets the same answer back), and the next dunning day is a new attempt.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

import stripe

from app.audit.service import record_audit
from app.billing.models import Invoice, InvoiceStatus
from app.billing.notices import invoice_context, update_payment_method_url
from app.customers.models import Customer
from app.db_types import utcnow
from app.notifications.outbox import queue_email
from app.payments.stripe.client import card_rail_enabled, stripe_client, stripe_status
from app.payments.stripe.intents import (
    INVOICE_METADATA_KEY,
    SETTLE_EXPAND,
    apply_payment_intent,
    decline_reason,
    record_card_decline,
)

ACTOR = "job:card-on-file"


class ChargeOutcome(enum.StrEnum):
    #: settled against the invoice, in the caller's transaction
    SUCCEEDED = "succeeded"
    #: declined (or refused by Stripe); failure_reason says why
    FAILED = "failed"
    #: Stripe has not given a final answer (processing, or no answer at all): the webhook or the sweep settles it
    PENDING = "pending"
    #: no charge was tried: no card rail, no saved card, nothing owed
    NOT_ATTEMPTED = "not_attempted"


@dataclass(frozen=True)
class ChargeResult:
    outcome: ChargeOutcome
    #: Stripe's pi_... of the attempt
    rail_payment_id: str | None = None
    failure_reason: str | None = None
    #: the bank wants the customer to authenticate: only the customer, on the pay page, can pay this one
    needs_customer: bool = False


def charge_saved_card(invoice: Invoice, *, now: datetime | None = None) -> ChargeResult:
    if not card_rail_enabled():
        return ChargeResult(ChargeOutcome.NOT_ATTEMPTED, failure_reason=stripe_status()[1])
    amount = invoice.amount_remaining_minor
    if invoice.status != InvoiceStatus.OPEN or amount <= 0:
        return ChargeResult(ChargeOutcome.NOT_ATTEMPTED, failure_reason=f"invoice {invoice.number} owes nothing")
    customer = invoice.customer
    if not customer.stripe_customer_id or not customer.stripe_payment_method_id:
        return ChargeResult(ChargeOutcome.NOT_ATTEMPTED, failure_reason="no card on file")
    now = now or utcnow()
    try:
        client = stripe_client()
        payment_method = _card_to_charge(client, customer)
        pi = client.v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": invoice.currency.lower(),
                "customer": customer.stripe_customer_id,
                "payment_method": payment_method,
                "off_session": True,
                "confirm": True,
                "description": f"Invoice {invoice.number}",
                "metadata": {INVOICE_METADATA_KEY: invoice.reference_code},
                "expand": SETTLE_EXPAND,
            },
            options={"idempotency_key": f"advancia-offsession:{invoice.reference_code}:{amount}:{now:%Y%m%d}"},
        ).to_dict()
    except stripe.CardError as exc:
        return _declined(invoice, exc)
    except stripe.InvalidRequestError as exc:  # e.g. the card was removed at Stripe
        return ChargeResult(ChargeOutcome.FAILED, failure_reason=f"Stripe refused: {exc.user_message or exc}")
    except stripe.StripeError as exc:
        return ChargeResult(
            ChargeOutcome.PENDING,
            failure_reason=f"no answer from Stripe ({exc.__class__.__name__}); if the charge went through, its "
            "webhook or the hourly sweep settles it",
        )
    apply_payment_intent(pi, actor=ACTOR)
    if pi["status"] == "succeeded":
        return ChargeResult(ChargeOutcome.SUCCEEDED, pi["id"])
    if pi.get("last_payment_error"):
        return ChargeResult(ChargeOutcome.FAILED, pi["id"], decline_reason(pi["last_payment_error"]))
    return ChargeResult(ChargeOutcome.PENDING, pi["id"], f"Stripe says {pi['status']}")


def _card_to_charge(client: stripe.StripeClient, customer: Customer) -> str:
    """The customer's default card as Stripe shows it now (changed in the portal), else the card saved at checkout.
    Reading it here means a lost customer.updated event never charges the wrong card."""
    stripe_customer = client.v1.customers.retrieve(customer.stripe_customer_id).to_dict()
    default = (stripe_customer.get("invoice_settings") or {}).get("default_payment_method")
    default = default.get("id") if isinstance(default, dict) else default
    if default and default != customer.stripe_payment_method_id:
        customer.stripe_payment_method_id = default
        record_audit("customer.card_saved", customer, actor=ACTOR, payment_method=default, source="stripe default")
    return default or customer.stripe_payment_method_id


def _declined(invoice: Invoice, exc: stripe.CardError) -> ChargeResult:
    error = exc.error.to_dict() if exc.error else {}
    pi = error.get("payment_intent") or {}
    record_card_decline(invoice, pi, error, actor=ACTOR)  # a replay (a job run twice) finds it recorded
    needs_customer = error.get("code") == "authentication_required"
    if needs_customer:
        _ask_customer_to_confirm(invoice)
    return ChargeResult(ChargeOutcome.FAILED, pi.get("id"), decline_reason(error), needs_customer=needs_customer)


def _ask_customer_to_confirm(invoice: Invoice) -> None:
    """The bank wants its check (3-D Secure), which only the customer can pass, on the card page; retrying off-session
    will not get through. Once per invoice, through the outbox in the caller's transaction."""
    customer = invoice.customer
    context = invoice_context(invoice, customer, confirm_url=update_payment_method_url(invoice))
    queue_email(
        to=customer.email,
        subject=f"Please confirm your payment of {context['amount']}",
        template="card_needs_confirmation",
        context=context,
        dedupe_key=f"card_needs_confirmation:{invoice.id}",
        customer_id=customer.id,
    )
