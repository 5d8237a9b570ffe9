"""Stripe webhook events: verified and stored once (unique on Stripe's event id), then processed exactly once.

Receiving only verifies and stores; a worker job drains the stored events. Processing one event fetches the object's
current state from Stripe outside any transaction, then claims the event with a conditional UPDATE (the first
statement of its transaction: PostgreSQL's row lock, SQLite's writer lock) and applies the change in that same
transaction, so two workers racing on one event, or ten deliveries of it, change the books once.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import psycopg
import stripe
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import Engine, create_engine, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError

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
#: when this process last knew a drain job had not started yet (time.monotonic()); see request_processing
_drain_waiting_seen_at = float("-inf")
#: the sweep runs these again; an event that keeps failing stays failed for the operator
MAX_AUTOMATIC_ATTEMPTS = 5
#: Stripe reads in flight at once while a batch is prepared (they wait on the network, not on us)
FETCH_THREADS = 8


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
    """Verifies the Stripe-Signature header on the raw body, then stores the event (committed on return)."""
    secret = webhook_secret()
    if not secret:
        raise WebhookRejected("configuration", "STRIPE_WEBHOOK_SECRET is not set: events cannot be verified")
    if not signature:
        raise WebhookRejected("Stripe-Signature", "the Stripe-Signature header is missing")
    try:
        # What stripe.Webhook.construct_event does, minus the StripeObject it then builds from the body (stripe-python
        # 16: no .get, and to_dict() walks it back in Python): that object is thrown away here, and building it cost
        # more CPU than everything else in receiving an event. Same verification, same library, same answers (see
        # tests/payments/stripe/test_webhook_receiving.py).
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, secret, TOLERANCE_SECONDS)
        data = json.loads(text)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected("Stripe-Signature", f"signature rejected: {exc.user_message or exc}") from None
    except ValueError:  # not UTF-8, not JSON
        raise WebhookRejected("body", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise WebhookRejected("body", "the body is not a JSON object")
    inner = data.get("data")
    obj = inner.get("object") if isinstance(inner, dict) else None
    if (
        not str(data.get("id", "")).startswith("evt_")
        or not isinstance(data.get("type"), str)
        or not isinstance(obj, dict)
    ):
        raise WebhookRejected("body", "not a Stripe event (needs id evt_..., type and data.object)")
    return store_event(data, text)


def store_event(data: dict[str, Any], text: str | None = None) -> ReceivedEvent:
    """Insert-or-count in one statement on a connection of its own, committed before returning: a repeated
    delivery only adds to `deliveries`. `text` is the verified body, stored as sent."""
    inner = data["data"]["object"]
    values = {
        "stripe_event_id": data["id"][:255],
        "type": data["type"][:100],
        "object_id": str(inner.get("id"))[:255] if inner.get("id") else None,
        "livemode": bool(data.get("livemode")),
        "stripe_created": datetime.fromtimestamp(int(data["created"]), UTC) if data.get("created") else None,
    }
    if db.engine.dialect.name == "postgresql":
        event_id, deliveries = _insert_on_postgres(values, text if text is not None else json.dumps(data))
    else:
        with db.engine.begin() as conn:
            event_id, deliveries = conn.execute(
                sqlite.insert(StripeEvent)
                .values(
                    **values,
                    payload=data,
                    status=StripeEventStatus.RECEIVED,
                    attempts=0,
                    deliveries=1,
                    received_at=utcnow(),
                )
                .on_conflict_do_update(
                    index_elements=["stripe_event_id"], set_={"deliveries": StripeEvent.deliveries + 1}
                )
                .returning(StripeEvent.id, StripeEvent.deliveries)
            ).one()
    return ReceivedEvent(event_id, data["id"], deliveries == 1)


#: the hot path of every webhook, written out for psycopg: SQLAlchemy's statement building and type processing cost
#: more CPU than the round trip (tests/platform/test_migrations.py keeps the columns honest)
_POSTGRES_UPSERT = (
    "INSERT INTO stripe_events (stripe_event_id, type, object_id, livemode, stripe_created, payload, status, "
    "attempts, deliveries, received_at) VALUES (%(stripe_event_id)s, %(type)s, %(object_id)s, %(livemode)s, "
    "%(stripe_created)s, %(payload)s::json, 'received', 0, 1, now()) "
    "ON CONFLICT (stripe_event_id) DO UPDATE SET deliveries = stripe_events.deliveries + 1 RETURNING id, deliveries"
)


def _insert_on_postgres(values: dict[str, Any], payload_text: str) -> tuple[int, int]:
    """One round trip: the statement commits by itself on a connection of the ingestion pool.

    Unless STRIPE_WEBHOOK_SYNCHRONOUS_COMMIT is set, that commit does not wait for the WAL flush (PostgreSQL's
    synchronous_commit=off: a server crash can lose the last fraction of a second of events, never corrupt
    anything). Waiting for the flush costs a disk sync per event and caps ingestion near 1/fsync-latency per
    worker. It is safe because the event table is not the only record: Stripe's API is, and the hourly sweep
    re-reads recent PaymentIntents, refunds and disputes, and a saved card is read from Stripe when charged.
    """
    engine = _ingestion_engine(db.engine.url, bool(current_app.config.get("STRIPE_WEBHOOK_SYNCHRONOUS_COMMIT")))
    for attempt in (1, 2):
        try:
            connection = engine.raw_connection()
        except DBAPIError:
            if attempt == 2:
                raise
            continue
        try:
            with connection.cursor() as cursor:
                cursor.execute(_POSTGRES_UPSERT, {**values, "payload": payload_text})
                return cursor.fetchone()
        except psycopg.OperationalError:  # no pre-ping on this pool: a connection the server dropped fails once
            connection.invalidate()
            if attempt == 2:
                raise
        finally:
            connection.close()
    raise AssertionError("unreachable")


@lru_cache(maxsize=4)
def _ingestion_engine(url, synchronous_commit: bool) -> Engine:  # noqa: ANN001
    options = {} if synchronous_commit else {"connect_args": {"options": "-c synchronous_commit=off"}}
    return create_engine(url, isolation_level="AUTOCOMMIT", pool_size=2, max_overflow=8, **options)


def request_processing() -> bool:
    """Queue one drain job unless one is already waiting. Called after the commit; True when a job was queued.

    A burst of webhooks needs one drain job, and asking Redis on every event cost a fifth of the web worker's CPU.
    So for half the drain's settle time after this process last knew a job was waiting (it set the flag, or found
    it set, before the job cleared it), it does not ask again. That is safe because a drain job scans once more,
    from the start, no earlier than the full settle time after clearing the flag (process_received_events): every
    event stored in such a window was committed before that last scan began.

    Redis being down costs nothing but time: the stored event waits for the hourly sweep.
    """
    global _drain_waiting_seen_at
    from app.queues import get_queue, get_redis

    skip_window = current_app.config["STRIPE_DRAIN_SETTLE_MS"] / 2000
    if time.monotonic() - _drain_waiting_seen_at < skip_window:
        return False
    try:
        redis = get_redis()
        asked_at = time.monotonic()
        if not redis.set(DRAIN_FLAG, "1", nx=True, ex=DRAIN_FLAG_SECONDS):
            _drain_waiting_seen_at = asked_at
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
        _drain_waiting_seen_at = asked_at
    except RedisError as exc:
        log.warning("stripe event stored but not queued (the sweep will process it): %s", exc)
        return False
    return True


def process_received_events(batch_size: int = 50, settle_ms: int | None = None) -> dict[str, int]:
    """The drain job's body: every event still waiting, oldest first, a batch at a time. Owns its transactions.

    Scans until a scan that began at least `settle_ms` after the flag was cleared finds the queue drained (the web
    side's promise in request_processing)."""
    from app.queues import get_redis

    settle = (current_app.config["STRIPE_DRAIN_SETTLE_MS"] if settle_ms is None else settle_ms) / 1000
    get_redis().delete(DRAIN_FLAG)  # before reading: an event stored from now on queues a new drain
    last_scan_from = time.monotonic() + settle
    tally: Counter[str] = Counter()
    while True:
        scan_began = time.monotonic()
        _drain_waiting_events(batch_size, tally)
        if scan_began >= last_scan_from:
            return dict(tally)
        time.sleep(max(0.0, last_scan_from - time.monotonic()))


def _drain_waiting_events(batch_size: int, tally: Counter[str]) -> None:
    after_id = 0
    while True:
        db.session.rollback()  # read what is committed now, not an older snapshot (SQLite keeps one per transaction)
        rows = db.session.execute(
            select(StripeEvent.id, StripeEvent.type, StripeEvent.payload)
            .where(StripeEvent.status == StripeEventStatus.RECEIVED, StripeEvent.id > after_id)
            .order_by(StripeEvent.id)
            .limit(batch_size)
        ).all()
        db.session.rollback()
        if not rows:
            return
        for status in _process_batch([(row.id, row.type, row.payload["data"]["object"]) for row in rows]):
            tally[status.value if status else "skipped"] += 1
        after_id = rows[-1].id


def process_event(event_id: int) -> StripeEventStatus | None:
    """Processes one received event; None when it was not waiting (another worker has it, or had it)."""
    db.session.rollback()
    row = db.session.execute(
        select(StripeEvent.type, StripeEvent.payload).where(
            StripeEvent.id == event_id, StripeEvent.status == StripeEventStatus.RECEIVED
        )
    ).first()
    db.session.rollback()
    if row is None:
        return None
    return _process_batch([(event_id, row.type, row.payload["data"]["object"])])[0]


def _process_batch(items: list[tuple[int, str, dict[str, Any]]]) -> list[StripeEventStatus | None]:
    """Reads the batch's objects from Stripe (each object once, side by side), then applies event by event, each in
    its own transaction that starts by claiming the event."""
    facts = _current_state(items)
    statuses = []
    for event_id, event_type, _ in items:
        found = facts[event_id]
        if isinstance(found, Exception):
            statuses.append(_fail(event_id, f"could not read the object's current state from Stripe: {found}"))
        else:
            statuses.append(_apply_event(event_id, event_type, found))
    return statuses


def _current_state(items: list[tuple[int, str, dict[str, Any]]]) -> dict[int, Any]:
    """event id -> what its handler fetched (or the event's own object, or the exception that stopped the read).

    Runs outside any transaction: no lock is held while Stripe answers.
    """
    wanted: dict[Any, tuple[Any, dict[str, Any]]] = {}
    key_of: dict[int, Any] = {}
    for event_id, event_type, obj in items:
        handler = handler_for(event_type)
        if handler is not None and handler.fetch is not None:
            # the same read (fetch function and object) serves every event of the batch that needs it
            key_of[event_id] = (handler.fetch, handler.key(obj))
            wanted.setdefault(key_of[event_id], (handler, obj))
    fetched: dict[Any, Any] = {}
    if wanted:
        try:
            client = stripe_client()
        except CardRailUnavailable as exc:
            fetched = dict.fromkeys(wanted, exc)
        else:
            with ThreadPoolExecutor(min(FETCH_THREADS, len(wanted))) as pool:
                futures = {key: pool.submit(handler.fetch, client, obj) for key, (handler, obj) in wanted.items()}
            for key, future in futures.items():
                try:
                    fetched[key] = future.result()
                except Exception as exc:  # the event that needed it fails, with this as its error
                    fetched[key] = exc
    return {event_id: fetched[key_of[event_id]] if event_id in key_of else obj for event_id, _, obj in items}


def _apply_event(event_id: int, event_type: str, facts: Any) -> StripeEventStatus | None:
    if not _claim(event_id):
        db.session.rollback()
        return None
    handler = handler_for(event_type)
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
