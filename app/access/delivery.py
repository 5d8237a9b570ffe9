"""Sending the webhook outbox: signed POSTs of due deliveries, retried with exponential backoff, then FAILED.

Each delivery is claimed in its own short transaction, one UPDATE whose subquery picks the oldest due row (with
FOR UPDATE SKIP LOCKED on PostgreSQL), pushing its next attempt one lease into the future; the POST happens outside
any transaction; the result is written in another. Two workers never send the same delivery at
the same time, and a worker that dies mid-send leaves the delivery due again after the lease: delivery is at least
once, and receivers dedupe on Advancia-Event-Id.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic

import requests
from sqlalchemy import select, update

from app.access.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.access.signing import SIGNATURE_HEADER, signature_header
from app.audit.service import record_audit
from app.db_types import utcnow
from app.extensions import db

log = logging.getLogger(__name__)

#: wait after the 1st, 2nd, ... failed attempt; after the last one the delivery is FAILED. The retries span
#: 1m + 5m + 30m + 2h + 6h + 12h + 3 x 24h = 3 days 20 h 36 min, so a receiver down over a long weekend still
#: gets its events.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
    timedelta(hours=24),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
#: (connect, read) seconds: a slow receiver must not hold up everyone else's events
REQUEST_TIMEOUT = (3.0, 10.0)
#: a claimed delivery is not due again for this long; longer than one POST can take
CLAIM_LEASE = timedelta(seconds=60)
#: stop claiming after this many seconds of one run, so a 30 s schedule does not pile up runs
RUN_BUDGET_SECONDS = 20.0
USER_AGENT = "Advancia-Mini-Webhooks/1"


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    status_code: int | None
    error: str | None


def next_retry_delay(attempts: int) -> timedelta | None:
    """The wait after the `attempts`-th failed attempt, or None when retries are exhausted."""
    return RETRY_DELAYS[attempts - 1] if 1 <= attempts <= len(RETRY_DELAYS) else None


def payload_body(delivery: WebhookDelivery) -> bytes:
    """The exact bytes that are signed and sent."""
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def deliver_due_webhooks(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Sends what is due, one claim at a time, until nothing is due, `limit` is reached or the run budget is spent.

    Commits its own transactions (claims and results): call it from a job, not inside a request's transaction.
    """
    started = monotonic()
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    for _ in range(limit):
        if monotonic() - started > RUN_BUDGET_SECONDS:
            break
        claimed = _claim_next(now or utcnow())
        if claimed is None:
            break
        delivery_id, url, secret, body, event_id, event_type, attempt = claimed
        result = _post(url, secret, body, event_id, event_type, attempt)
        counts[_record_result(delivery_id, attempt, result, now or utcnow())] += 1
    return counts


def _claim_next(now: datetime) -> tuple | None:
    """One UPDATE ... WHERE id = (SELECT the oldest due id [FOR UPDATE SKIP LOCKED]) RETURNING id: the claim is a
    single write, so on PostgreSQL a second worker skips the locked row and on SQLite it waits for the write lock
    (a read-then-write transaction would fail there when another writer commits in between)."""
    due = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.active.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(1)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(of=WebhookDelivery, skip_locked=True)
    try:
        delivery_id = db.session.scalar(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == due.scalar_subquery(),
                # re-checked on the row itself: a row another worker claimed meanwhile no longer matches
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + CLAIM_LEASE, attempts=WebhookDelivery.attempts + 1)
            .returning(WebhookDelivery.id)
            .execution_options(synchronize_session=False)
        )
        if delivery_id is None:
            db.session.rollback()
            return None
        delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
        snapshot = (
            delivery.id,
            delivery.endpoint.url,
            delivery.endpoint.secret,
            payload_body(delivery),
            delivery.event_id,
            delivery.event_type,
            delivery.attempts,
        )
        db.session.commit()
        return snapshot
    except Exception:
        db.session.rollback()
        raise


def _post(url: str, secret: str, body: bytes, event_id: str, event_type: str, attempt: int) -> AttemptResult:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Advancia-Event-Id": event_id,
        "Advancia-Event-Type": event_type,
        "Advancia-Delivery-Attempt": str(attempt),
        SIGNATURE_HEADER: signature_header(secret, body),
    }
    try:
        with requests.post(
            url, data=body, headers=headers, timeout=REQUEST_TIMEOUT, allow_redirects=False, stream=True
        ) as response:
            if 200 <= response.status_code < 300:
                return AttemptResult(True, response.status_code, None)
            excerpt = response.raw.read(300, decode_content=True).decode("utf-8", "replace").strip()
            return AttemptResult(False, response.status_code, f"HTTP {response.status_code}: {excerpt}"[:1000])
    except requests.RequestException as exc:
        return AttemptResult(False, None, f"{exc.__class__.__name__}: {exc}"[:1000])


def _record_result(delivery_id: int, attempt: int, result: AttemptResult, now: datetime) -> str:
    """Written as one UPDATE first (see _claim_next on SQLite), then the audit entry when retries are exhausted."""
    values: dict = {"last_status_code": result.status_code, "last_error": result.error}
    delay = next_retry_delay(attempt)
    if result.ok:
        values |= {"status": DeliveryStatus.DELIVERED, "delivered_at": now}
        outcome = "delivered"
    elif delay is None:
        values |= {"status": DeliveryStatus.FAILED}
        outcome = "failed"
    else:
        values |= {"next_attempt_at": now + delay}
        outcome = "retrying"
    try:
        db.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if outcome == "failed":
            record_audit(
                "webhook.delivery_failed",
                object_type="webhook_deliveries",
                object_id=delivery_id,
                actor="system",
                attempts=attempt,
                error=result.error,
            )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if not result.ok:
        log.info("webhook delivery %s attempt %s: %s", delivery_id, attempt, result.error)
    return outcome


def resend_delivery(delivery_id: int, *, actor: str, now: datetime | None = None) -> WebhookDelivery:
    """Due at once again. Attempts are kept, so a failed delivery gets one more try (then fails again if the
    receiver is still down); a delivered one is sent again with the same event id."""
    delivery = db.session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise LookupError(f"no webhook delivery {delivery_id}")
    previous = delivery.status
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = now or utcnow()
    record_audit(
        "webhook.resent",
        delivery,
        actor=actor,
        event_id=delivery.event_id,
        previous=previous.value,
        attempts=delivery.attempts,
    )
    return delivery


def recent_deliveries(*, status: DeliveryStatus | None = None, limit: int = 100) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return list(db.session.scalars(query))
