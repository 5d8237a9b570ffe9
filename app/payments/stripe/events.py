"""Stripe webhook events: verified and stored once (unique on Stripe's event id), then processed exactly once.

Receiving only verifies and stores; a worker job drains the stored events. Processing one event fetches the object's
current state from Stripe outside any transaction, then claims the event with a conditional UPDATE (the first
statement of its transaction: PostgreSQL's row lock, SQLite's writer lock) and applies the change in that same
transaction, so two workers racing on one event, or ten deliveries of it, change the books once.
"""

from __future__ import annotations

import logging
import traceback
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from redis.exceptions import RedisError
from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.audit.service import record_audit
from app.db_types import utcnow
from app.extensions import db
from app.payments.stripe.client import CardRailUnavailable, stripe_client, webhook_secret
from app.payments.stripe.handlers import handler_for, unhandled_outcome
from app.payments.stripe.models import StripeEvent, StripeEventStatus
from app.payments.stripe.outcome import Outcome

log = logging.getLogger(__name__)

ACTOR = "webhook:stripe"
#: Stripe's libraries refuse signatures older than five minutes (replays)
TOLERANCE_SECONDS = 300
#: set while a drain job is queued, so a burst of webhooks queues one job, not one per event
DRAIN_FLAG = "advancia:stripe-events:drain-queued"
DRAIN_FLAG_SECONDS = 300
#: the sweep runs these again; an event that keeps failing stays failed for the operator
MAX_AUTOMATIC_ATTEMPTS = 5


class WebhookRejected(ValueError):
    """Not a genuine, fresh Stripe event: answered 400 and nothing is stored."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ReceivedEvent:
    id: int
    stripe_event_id: str
    #: False when Stripe delivered this event before
    created: bool


def receive_event(payload: bytes, signature: str | None) -> ReceivedEvent:
    """Verifies the Stripe-Signature header on the raw body, then stores the event (in the caller's transaction)."""
    secret = webhook_secret()
    if not secret:
        raise WebhookRejected("configuration", "STRIPE_WEBHOOK_SECRET is not set: events cannot be verified")
    if not signature:
        raise WebhookRejected("Stripe-Signature", "the Stripe-Signature header is missing")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected("Stripe-Signature", f"signature rejected: {exc.user_message or exc}") from None
    except (ValueError, TypeError, AttributeError):
        # ValueError: not JSON; the others: JSON that is not an object (the library assumes one).
        raise WebhookRejected("body", "the body is not a JSON object") from None
    # stripe-python 16 gives a StripeObject (no .get); a plain dict is what we store and read.
    data = event.to_dict()
    obj = (data.get("data") or {}).get("object")
    if (
        not str(data.get("id", "")).startswith("evt_")
        or not isinstance(data.get("type"), str)
        or not isinstance(obj, dict)
    ):
        raise WebhookRejected("body", "not a Stripe event (needs id evt_..., type and data.object)")
    return store_event(data)


def store_event(data: dict[str, Any]) -> ReceivedEvent:
    """Insert-or-count in one statement: a repeated delivery only adds to `deliveries`."""
    obj = data["data"]["object"]
    values = {
        "stripe_event_id": data["id"][:255],
        "type": data["type"][:100],
        "object_id": str(obj.get("id"))[:255] if obj.get("id") else None,
        "livemode": bool(data.get("livemode")),
        "stripe_created": datetime.fromtimestamp(int(data["created"]), UTC) if data.get("created") else None,
        "payload": data,
        "status": StripeEventStatus.RECEIVED,
        "attempts": 0,
        "deliveries": 1,
        "received_at": utcnow(),
    }
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    new_id = db.session.scalar(
        dialect.insert(StripeEvent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["stripe_event_id"])
        .returning(StripeEvent.id)
    )
    if new_id is not None:
        return ReceivedEvent(new_id, data["id"], True)
    existing_id = db.session.scalar(
        update(StripeEvent)
        .where(StripeEvent.stripe_event_id == data["id"])
        .values(deliveries=StripeEvent.deliveries + 1)
        .returning(StripeEvent.id)
    )
    return ReceivedEvent(existing_id, data["id"], False)


def request_processing() -> bool:
    """Queue one drain job unless one is already waiting. Called after the commit; True when a job was queued.

    Redis being down costs nothing but time: the stored event waits for the hourly sweep.
    """
    from app.queues import get_queue, get_redis

    try:
        redis = get_redis()
        if not redis.set(DRAIN_FLAG, "1", nx=True, ex=DRAIN_FLAG_SECONDS):
            return False
        try:
            get_queue().enqueue(
                "workers.jobs.stripe_events",
                job_timeout=900,
                result_ttl=3600,
                failure_ttl=7 * 86400,
                description="stripe_events",
            )
        except Exception:
            redis.delete(DRAIN_FLAG)
            raise
    except RedisError as exc:
        log.warning("stripe event stored but not queued (the sweep will process it): %s", exc)
        return False
    return True


def process_received_events(batch_size: int = 100) -> dict[str, int]:
    """The drain job's body: every event still waiting, oldest first. Owns its transactions."""
    from app.queues import get_redis

    get_redis().delete(DRAIN_FLAG)  # before reading: an event stored from now on queues a new drain
    db.session.rollback()  # read what is committed now, not an older snapshot (SQLite keeps one per transaction)
    tally: Counter[str] = Counter()
    after_id = 0
    while True:
        ids = list(
            db.session.scalars(
                select(StripeEvent.id)
                .where(StripeEvent.status == StripeEventStatus.RECEIVED, StripeEvent.id > after_id)
                .order_by(StripeEvent.id)
                .limit(batch_size)
            )
        )
        db.session.rollback()
        if not ids:
            break
        for event_id in ids:
            status = process_event(event_id)
            tally[status.value if status else "skipped"] += 1
        after_id = ids[-1]
    return dict(tally)


def process_event(event_id: int) -> StripeEventStatus | None:
    """Processes one received event; None when it was not waiting (another worker has it, or had it).

    Owns its transactions: none is held while Stripe answers.
    """
    db.session.rollback()
    event = db.session.get(StripeEvent, event_id)
    if event is None or event.status != StripeEventStatus.RECEIVED:
        db.session.rollback()
        return None
    event_type, obj = event.type, event.payload["data"]["object"]
    db.session.rollback()
    handler = handler_for(event_type)
    try:
        facts = handler.fetch(stripe_client(), obj) if handler and handler.fetch else obj
    except (stripe.StripeError, CardRailUnavailable) as exc:
        return _fail(event_id, f"could not read the object's current state from Stripe: {exc}")
    if not _claim(event_id):
        db.session.rollback()
        return None
    try:
        outcome = handler.apply(facts, ACTOR) if handler else unhandled_outcome(event_type)
        _finish(event_id, outcome)
        db.session.commit()
    except Exception as exc:  # recorded on the event for the operator; the drain goes on with the next one
        db.session.rollback()
        log.exception("stripe event %s failed", event_id)
        return _fail(event_id, "".join(traceback.format_exception(exc))[-4000:])
    return outcome.status


def _claim(event_id: int) -> bool:
    claimed = db.session.execute(
        update(StripeEvent)
        .where(StripeEvent.id == event_id, StripeEvent.status == StripeEventStatus.RECEIVED)
        .values(attempts=StripeEvent.attempts + 1)
    )
    return claimed.rowcount == 1


def _finish(event_id: int, outcome: Outcome) -> None:
    db.session.execute(
        update(StripeEvent)
        .where(StripeEvent.id == event_id)
        .values(status=outcome.status, result=outcome.text, error=None, processed_at=utcnow())
    )


def _fail(event_id: int, error: str) -> StripeEventStatus:
    db.session.execute(
        update(StripeEvent)
        .where(StripeEvent.id == event_id, StripeEvent.status == StripeEventStatus.RECEIVED)
        .values(
            status=StripeEventStatus.FAILED,
            error=error,
            result="failed: the sweep tries again; the operator can re-run it",
            attempts=StripeEvent.attempts + 1,
            processed_at=utcnow(),
        )
    )
    db.session.commit()
    return StripeEventStatus.FAILED


def reset_event(event_id: int, *, actor: str) -> StripeEvent:
    """The operator's re-run: the event waits again (in the caller's transaction; then call process_event)."""
    event = db.session.get(StripeEvent, event_id)
    if event is None:
        raise LookupError(f"no Stripe event {event_id}")
    record_audit("stripe_event.rerun", event, actor=actor, previous_status=event.status.value, type=event.type)
    event.status, event.result, event.error, event.processed_at = StripeEventStatus.RECEIVED, None, None, None
    return event


def events_to_retry(now: datetime, *, stuck_after: timedelta = timedelta(minutes=5)) -> list[int]:
    """For the sweep: events whose drain job never came, and recent failed or unmatched ones (an object that was
    not in our books yet may be now)."""
    recent = now - timedelta(days=3)
    return list(
        db.session.scalars(
            select(StripeEvent.id)
            .where(
                or_(
                    (StripeEvent.status == StripeEventStatus.RECEIVED) & (StripeEvent.received_at <= now - stuck_after),
                    StripeEvent.status.in_([StripeEventStatus.FAILED, StripeEventStatus.UNMATCHED])
                    & (StripeEvent.received_at >= recent)
                    & (StripeEvent.attempts < MAX_AUTOMATIC_ATTEMPTS),
                )
            )
            .order_by(StripeEvent.id)
        )
    )


def retry_event(event_id: int) -> StripeEventStatus | None:
    """The sweep's retry: a failed or unmatched event waits again and is processed now."""
    db.session.execute(
        update(StripeEvent)
        .where(
            StripeEvent.id == event_id,
            StripeEvent.status.in_([StripeEventStatus.FAILED, StripeEventStatus.UNMATCHED]),
        )
        .values(status=StripeEventStatus.RECEIVED, processed_at=None)
    )
    db.session.commit()
    return process_event(event_id)
