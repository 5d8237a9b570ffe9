"""Delivering the outbox: claim a due email, send it over SMTP, record the outcome; hold mail when no SMTP is set.

A claim is a committed lease (status sending until next_attempt_at), taken with one UPDATE whose subquery uses
FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite runs one writer at a time), so two workers never claim one message.
The send happens outside any transaction: nothing holds a lock or the SQLite write lock while the server talks.
A worker that dies between the send and recording it leaves the lease to lapse; the message is sent again with
the same Message-ID, which receivers use to drop the copy. That is the one duplicate this design allows.

Accounting-sync rows are not delivered here: they stay pending for the accounting capability (QuickBooks), which
is not built yet. The run's summary counts them so nobody mistakes them for lost mail.

This is the one service that commits by itself: a claim must be durable before the message leaves the process,
and each outcome is recorded as soon as it is known.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr

from flask import current_app
from sqlalchemy import and_, func, select, update

from app.audit.service import record_audit
from app.db_types import utcnow
from app.extensions import db
from app.notifications.models import OutboxKind, OutboxMessage, OutboxStatus
from app.notifications.rendering import RenderError, build_mime, render_email
from app.notifications.smtp import DeliveryFailure, SmtpConnection, SmtpSettings
from app.sqlite_support import begin_write

log = logging.getLogger(__name__)

ACTOR = "job:outbox_delivery"
HELD_REASON = "held: no SMTP server configured (set SMTP_HOST); release it from the Outbox screen once it is"
MAX_BACKOFF = timedelta(hours=6)
#: stop a run after this many messages so one job never runs for hours; the next run continues
RUN_LIMIT = 500


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    held: int = 0
    #: sent, but another worker had claimed it again meanwhile (our lease lapsed): it may arrive twice
    lease_lost: int = 0
    #: accounting-sync rows left pending for the accounting capability
    accounting_waiting: int = 0
    #: why the run stopped before the queue was empty (the server is down, ...)
    stopped: str | None = None

    def summary(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value or key in ("sent", "accounting_waiting")}


@dataclass(frozen=True)
class Claim:
    id: int
    #: the attempt number this claim is; recording the outcome requires it unchanged (our lease still holds)
    attempt: int


def _due(now: datetime):
    return and_(
        OutboxMessage.kind == OutboxKind.EMAIL,
        OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING)),
        OutboxMessage.next_attempt_at <= now,
    )


def deliver_due(*, now: datetime | None = None, limit: int = RUN_LIMIT) -> DeliveryReport:
    """Delivers every email due at `now` (default: the clock), one claim at a time, until none is left.

    Commits whatever the caller has open first: each claim and each outcome is its own transaction.
    """
    db.session.commit()
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    report = DeliveryReport()
    settings = SmtpSettings.from_config(current_app.config)
    if settings is None:
        report.held = hold_due_email(clock())
    else:
        with SmtpConnection(settings) as connection:
            for _ in range(limit):
                claim = claim_next(clock())
                if claim is None:
                    break
                failure = _send(claim, connection, clock())
                _record(claim, failure, clock(), report)
                if failure is not None and failure.server_problem:
                    report.stopped = f"SMTP {settings.description}: {failure}"
                    break
    report.accounting_waiting = db.session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.kind == OutboxKind.ACCOUNTING_SYNC, OutboxMessage.status == OutboxStatus.PENDING)
    )
    db.session.commit()
    return report


def claim_next(now: datetime) -> Claim | None:
    """Takes the oldest due email (or one whose worker's lease lapsed) and commits the claim."""
    lease = timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    pick = select(OutboxMessage.id).where(_due(now)).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(1)
    if db.session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    begin_write(db.session)
    row = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == pick.scalar_subquery(), _due(now))
        .values(status=OutboxStatus.SENDING, attempts=OutboxMessage.attempts + 1, next_attempt_at=now + lease)
        .returning(OutboxMessage.id, OutboxMessage.attempts),
        execution_options={"synchronize_session": False},
    ).first()
    db.session.commit()
    return Claim(row.id, row.attempts) if row else None


def _send(claim: Claim, connection: SmtpConnection, now: datetime) -> DeliveryFailure | None:
    message = db.session.get(OutboxMessage, claim.id, populate_existing=True)
    try:
        rendered = render_email(message)
        mime = build_mime(message, rendered, now=now)
        connection.send(mime, from_addr=parseaddr(mime["From"])[1], to_addrs=[parseaddr(rendered.to)[1]])
    except RenderError as exc:
        return DeliveryFailure(f"cannot build the message: {exc}", permanent=True)
    except DeliveryFailure as exc:
        return exc
    except Exception as exc:  # a bug or a crash in rendering (PDF, database): retried, then dead, never silent
        log.exception("outbox message %s failed unexpectedly", claim.id)
        return DeliveryFailure(f"{type(exc).__name__}: {exc}")
    finally:
        db.session.rollback()  # rendering only reads; end its transaction before recording the outcome
    return None


def _record(claim: Claim, failure: DeliveryFailure | None, now: datetime, report: DeliveryReport) -> None:
    ours = and_(
        OutboxMessage.id == claim.id,
        OutboxMessage.status == OutboxStatus.SENDING,
        OutboxMessage.attempts == claim.attempt,
    )
    if failure is None:
        values = {"status": OutboxStatus.SENT, "sent_at": now}
        outcome, action = "sent", "outbox.sent"
    elif failure.permanent or claim.attempt >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
        values = {"status": OutboxStatus.DEAD, "last_error": _error_text(claim, failure), "next_attempt_at": now}
        outcome, action = "dead", "outbox.dead"
    else:
        values = {
            "status": OutboxStatus.PENDING,
            "last_error": _error_text(claim, failure),
            "next_attempt_at": now + retry_delay(claim.attempt),
        }
        outcome, action = "retrying", None
    begin_write(db.session)
    changed = db.session.execute(
        update(OutboxMessage).where(ours).values(**values), execution_options={"synchronize_session": False}
    ).rowcount
    if not changed:
        # Our lease lapsed and another worker claimed it again: its outcome is the one that counts.
        log.warning("outbox message %s: lease lost before recording %s", claim.id, outcome)
        report.lease_lost += 1
        db.session.commit()
        return
    setattr(report, outcome, getattr(report, outcome) + 1)
    if action:
        details = {"attempt": claim.attempt} | ({"error": str(failure)[:500]} if failure else {})
        record_audit(action, object_type="outbox_messages", object_id=claim.id, actor=ACTOR, **details)
    db.session.commit()


def retry_delay(attempt: int) -> timedelta:
    """1, 2, 4, 8 ... minutes (OUTBOX_RETRY_SECONDS doubling) after the attempt that failed, at most 6 hours."""
    base = timedelta(seconds=current_app.config["OUTBOX_RETRY_SECONDS"])
    return min(base * 2 ** (attempt - 1), MAX_BACKOFF)


def _error_text(claim: Claim, failure: DeliveryFailure) -> str:
    return f"attempt {claim.attempt}: {failure}"[:2000]


def hold_due_email(now: datetime) -> int:
    """No SMTP server: due emails become held, each with an audit entry, and wait for the operator."""
    begin_write(db.session)
    held = db.session.scalars(
        update(OutboxMessage)
        .where(_due(now))
        .values(status=OutboxStatus.HELD, last_error=HELD_REASON)
        .returning(OutboxMessage.id),
        execution_options={"synchronize_session": False},
    ).all()
    for message_id in held:
        record_audit("outbox.held", object_type="outbox_messages", object_id=message_id, actor=ACTOR)
    db.session.commit()
    return len(held)
