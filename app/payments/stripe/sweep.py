"""The hourly sweep: asks Stripe for recent PaymentIntents, refunds and disputes and books any whose webhook never
came, then retries events left waiting, failed or unmatched. A lost delivery costs an hour, not money; this is also
why webhook ingestion may commit without waiting for the disk (app/payments/stripe/events.py)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.db_types import utcnow
from app.extensions import db
from app.payments.models import Payment, Rail, Refund
from app.payments.stripe.client import stripe_client, stripe_status
from app.payments.stripe.disputes import apply_dispute
from app.payments.stripe.events import events_to_retry, retry_event
from app.payments.stripe.handlers import fetch_intent
from app.payments.stripe.intents import INVOICE_METADATA_KEY, settle_intent
from app.payments.stripe.models import StripeEventStatus
from app.payments.stripe.refunds import apply_stripe_refunds

log = logging.getLogger(__name__)

ACTOR = "job:stripe_sweep"
#: how far back to look: Stripe retries a webhook for up to three days, but a card payment that nobody booked
#: after two days is what the sweep exists for; looking further costs one list page per hundred payments
LOOKBACK = timedelta(hours=48)


def sweep_stripe(now: datetime | None = None, *, lookback: timedelta = LOOKBACK) -> dict[str, Any]:
    """A job body: commits after each booked item, so one bad item does not undo the others."""
    enabled, reason = stripe_status()
    if not enabled:
        return {"noop": True, "reason": reason}
    now = now or utcnow()
    since = int((now - lookback).timestamp())
    tally: Counter[str] = Counter()
    client = stripe_client()
    for listed in client.v1.payment_intents.list(params={"created": {"gte": since}, "limit": 100}).auto_paging_iter():
        tally["intents_seen"] += 1
        pi = listed.to_dict()
        if pi.get("status") != "succeeded" or INVOICE_METADATA_KEY not in (pi.get("metadata") or {}):
            continue
        if _payment_known(pi["id"]):
            continue
        _book(tally, "intents", lambda pi_id=pi["id"]: settle_intent(fetch_intent(client, pi_id), actor=ACTOR))
    for listed in client.v1.refunds.list(params={"created": {"gte": since}, "limit": 100}).auto_paging_iter():
        tally["refunds_seen"] += 1
        refund = listed.to_dict()
        if refund.get("status") != "succeeded" or not refund.get("payment_intent") or _refund_known(refund["id"]):
            continue
        _book(tally, "refunds", lambda r=refund: apply_stripe_refunds(r["payment_intent"], [r], actor=ACTOR))
    _sweep_disputes(client, since, tally)
    for event_id in events_to_retry(now):
        status = retry_event(event_id)
        tally[f"events_{status.value if status else 'skipped'}"] += 1
    db.session.rollback()
    return dict(tally)


def _sweep_disputes(client, since: int, tally: Counter[str]) -> None:  # noqa: ANN001
    """Disputes opened lately, and every dispute still flagged open on our side (its closing may have been lost)."""
    seen: set[str] = set()
    for listed in client.v1.disputes.list(params={"created": {"gte": since}, "limit": 100}).auto_paging_iter():
        dispute = listed.to_dict()
        seen.add(dispute["id"])
        _book(tally, "disputes", lambda d=dispute: apply_dispute(d, actor=ACTOR))
    flagged = db.session.scalars(
        select(Payment.rail_payment_id).where(
            Payment.rail == Rail.CARD, Payment.disputed.is_(True), Payment.dispute_due_by.is_not(None)
        )
    ).all()
    db.session.rollback()
    for pi_id in flagged:
        listing = client.v1.disputes.list(params={"payment_intent": pi_id, "limit": 10}).to_dict()
        newest = max(listing["data"], key=lambda d: d.get("created") or 0, default=None)
        if newest is not None and newest["id"] not in seen:
            _book(tally, "disputes", lambda d=newest: apply_dispute(d, actor=ACTOR))


def _book(tally: Counter[str], kind: str, apply) -> None:  # noqa: ANN001
    try:
        outcome = apply()
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("stripe sweep could not book one %s", kind)
        tally[f"{kind}_errors"] += 1
        return
    if kind == "disputes":  # their outcome says what Stripe shows; most checks change nothing
        tally["disputes_checked"] += 1
        return
    tally[f"{kind}_booked" if outcome.status == StripeEventStatus.PROCESSED else f"{kind}_unmatched"] += 1


def _payment_known(pi_id: str) -> bool:
    return (
        db.session.scalar(select(Payment.id).where(Payment.rail == Rail.CARD, Payment.rail_payment_id == pi_id))
        is not None
    )


def _refund_known(refund_id: str) -> bool:
    return db.session.scalar(select(Refund.id).where(Refund.rail_refund_id == refund_id)) is not None
