"""Each Stripe event type we act on: what to fetch from the API (the object as it is now, so the order events
arrive in does not matter), then what to change in our books. Fetching happens outside any database transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe

from app.payments.stripe.disputes import apply_dispute
from app.payments.stripe.intents import SETTLE_EXPAND, apply_payment_intent
from app.payments.stripe.models import StripeEventStatus
from app.payments.stripe.outcome import Outcome
from app.payments.stripe.refunds import apply_stripe_refunds
from app.payments.stripe.saved_cards import apply_customer_update, forget_payment_method

#: Stripe Billing objects: we bill ourselves, so these never concern our books
NOT_APPLICABLE_PREFIXES = ("invoice.", "invoiceitem.", "customer.subscription.", "subscription_schedule.")


@dataclass(frozen=True)
class Handler:
    #: (client, data.object) -> facts from the API; None when the event's own object is enough
    fetch: Callable[[stripe.StripeClient, dict[str, Any]], Any] | None
    #: (facts or data.object, actor) -> Outcome, inside the processing transaction
    apply: Callable[[Any, str], Outcome]
    #: data.object -> what `fetch` reads, so events about one object share one read in a batch
    key: Callable[[dict[str, Any]], Any] = lambda obj: obj.get("id")


def fetch_intent(client: stripe.StripeClient, pi_id: str) -> dict[str, Any]:
    return client.v1.payment_intents.retrieve(pi_id, params={"expand": SETTLE_EXPAND}).to_dict()


def _intent_of(client: stripe.StripeClient, obj: dict[str, Any]) -> dict[str, Any] | None:
    pi_id = obj["id"] if obj.get("object") == "payment_intent" else obj.get("payment_intent")
    return fetch_intent(client, pi_id) if pi_id else None


def _apply_intent(pi: dict[str, Any] | None, actor: str) -> Outcome:
    if pi is None:
        return Outcome.done("no PaymentIntent behind this object; nothing to settle")
    return apply_payment_intent(pi, actor=actor)


def _session(client: stripe.StripeClient, obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    session = client.v1.checkout.sessions.retrieve(obj["id"]).to_dict()
    pi_id = session.get("payment_intent")
    return session, fetch_intent(client, pi_id) if pi_id else None


def _apply_session(facts: tuple[dict[str, Any], dict[str, Any] | None], actor: str) -> Outcome:
    session, pi = facts
    if pi is not None and (pi["status"] == "succeeded" or pi.get("last_payment_error")):
        return apply_payment_intent(pi, actor=actor)
    return Outcome.done(
        f"Checkout Session {session['id']} is {session.get('status')} with payment {session.get('payment_status')}; "
        "the PaymentIntent's own events settle it"
    )


def _refunds(client: stripe.StripeClient, obj: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    pi_id = obj.get("payment_intent")
    if not pi_id:
        return None, []
    listing = client.v1.refunds.list(params={"payment_intent": pi_id, "limit": 100})
    return pi_id, [refund.to_dict() for refund in listing.auto_paging_iter()]


def _apply_refunds(facts: tuple[str | None, list[dict[str, Any]]], actor: str) -> Outcome:
    pi_id, refunds = facts
    if pi_id is None:
        return Outcome.done("a refund without a PaymentIntent is not one of our card payments")
    return apply_stripe_refunds(pi_id, refunds, actor=actor)


def _intent_id(obj: dict[str, Any]) -> Any:
    return ("payment_intent", obj["id"] if obj.get("object") == "payment_intent" else obj.get("payment_intent"))


_INTENT = Handler(_intent_of, _apply_intent, _intent_id)
_SESSION = Handler(_session, _apply_session, lambda obj: ("checkout.session", obj.get("id")))
_REFUND = Handler(_refunds, _apply_refunds, lambda obj: ("refunds of", obj.get("payment_intent")))
_DISPUTE = Handler(
    lambda client, obj: client.v1.disputes.retrieve(obj["id"]).to_dict(),
    lambda dispute, actor: apply_dispute(dispute, actor=actor),
    lambda obj: ("dispute", obj.get("id")),
)

HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": _INTENT,
    "payment_intent.payment_failed": _INTENT,
    "payment_intent.canceled": _INTENT,
    "charge.succeeded": _INTENT,
    "checkout.session.completed": _SESSION,
    "checkout.session.async_payment_succeeded": _SESSION,
    "checkout.session.async_payment_failed": _SESSION,
    "charge.refunded": _REFUND,
    "charge.refund.updated": _REFUND,
    "refund.created": _REFUND,
    "refund.updated": _REFUND,
    "refund.failed": _REFUND,
    "charge.dispute.created": _DISPUTE,
    "charge.dispute.updated": _DISPUTE,
    "charge.dispute.closed": _DISPUTE,
    "charge.dispute.funds_withdrawn": _DISPUTE,
    "charge.dispute.funds_reinstated": _DISPUTE,
    "customer.updated": Handler(
        lambda client, obj: client.v1.customers.retrieve(obj["id"]).to_dict(),
        lambda customer, actor: apply_customer_update(customer, actor=actor),
        lambda obj: ("customer", obj.get("id")),
    ),
    "payment_method.detached": Handler(None, lambda pm, actor: forget_payment_method(pm, actor=actor)),
}


def handler_for(event_type: str) -> Handler | None:
    return HANDLERS.get(event_type)


def unhandled_outcome(event_type: str) -> Outcome:
    if event_type.startswith(NOT_APPLICABLE_PREFIXES):
        return Outcome(
            StripeEventStatus.NOT_APPLICABLE,
            "Stripe Billing event: Advancia bills itself (its own invoices, renewals and dunning), so nothing changed",
        )
    return Outcome(StripeEventStatus.IGNORED, f"Advancia does not act on {event_type}")
