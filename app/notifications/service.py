"""The operator's side of the outbox: what is waiting or failed, a look at a message, and sending it again."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select, update

from app.audit.service import record_audit
from app.db_types import utcnow
from app.extensions import db
from app.notifications.dispatch import mark_email_queued
from app.notifications.models import OutboxKind, OutboxMessage, OutboxStatus
from app.notifications.rendering import RenderError, render_email
from app.notifications.smtp import SmtpSettings

PAGE_SIZE = 100
NO_SMTP = "no SMTP server is configured (set SMTP_HOST): released mail would only be held again"


class OutboxActionError(ValueError):
    """The message's kind or status does not allow this action; the message says why."""


def smtp_description() -> str | None:
    """Where mail goes ("smtp.example.com:587 (STARTTLS, as user)"), or None when it is held."""
    settings = SmtpSettings.from_config(current_app.config)
    return settings.description if settings else None


def status_counts() -> dict[OutboxStatus, int]:
    rows = db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    counts = dict.fromkeys(OutboxStatus, 0)
    counts.update(dict(rows))
    return counts


@dataclass(frozen=True)
class Attention:
    held: int
    dead: int
    pending: int


def outbox_attention() -> Attention:
    """For the dashboard: emails kept (no SMTP), given up on, and waiting."""
    counts = status_counts()
    return Attention(
        held=counts[OutboxStatus.HELD],
        dead=counts[OutboxStatus.DEAD],
        pending=counts[OutboxStatus.PENDING] + counts[OutboxStatus.SENDING],
    )


def list_messages(status: OutboxStatus | None = None, *, before_id: int | None = None) -> list[OutboxMessage]:
    """Newest first, PAGE_SIZE at a time; `before_id` pages back."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(PAGE_SIZE)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if before_id is not None:
        query = query.where(OutboxMessage.id < before_id)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class Preview:
    text: str | None
    #: why it cannot be rendered (the same reason delivery would give)
    error: str | None


def preview(message: OutboxMessage) -> Preview:
    """The email's text as the recipient reads it, rendered now (PDF attachments are listed, not rendered)."""
    if message.kind != OutboxKind.EMAIL:
        return Preview(None, None)
    try:
        return Preview(render_email(message, with_attachments=False).text, None)
    except RenderError as exc:
        return Preview(None, str(exc))


#: status -> the operator's action that puts the message back in line
SEND_AGAIN_FROM = {
    OutboxStatus.DEAD: "retry",
    OutboxStatus.HELD: "release",
    OutboxStatus.PENDING: "send_now",
}


def request_delivery(message: OutboxMessage, *, actor: str) -> None:
    """Dead, held or waiting for a retry: due now, with a fresh set of attempts for a dead one.

    Sent messages are not sent again (the same Message-ID would be dropped by the receiver as a duplicate),
    and a message being sent right now is left to its worker.
    """
    if message.kind != OutboxKind.EMAIL:
        raise OutboxActionError("accounting sync messages wait for the accounting capability; nothing to send")
    action = SEND_AGAIN_FROM.get(message.status)
    if action is None:
        raise OutboxActionError(f"message {message.id} is {message.status.value}; it cannot be sent again")
    if action == "release" and smtp_description() is None:
        raise OutboxActionError(NO_SMTP)
    previous = {"from": message.status.value, "attempts": message.attempts, "last_error": message.last_error}
    message.status = OutboxStatus.PENDING
    message.next_attempt_at = utcnow()
    if action == "retry":
        message.attempts = 0
    record_audit(f"outbox.{action}", message, actor=actor, **previous)
    mark_email_queued(db.session())


def release_held(*, actor: str) -> int:
    """Every held email back in line (once SMTP is configured); returns how many."""
    if smtp_description() is None:
        raise OutboxActionError(NO_SMTP)
    released = db.session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.kind == OutboxKind.EMAIL, OutboxMessage.status == OutboxStatus.HELD)
        .values(status=OutboxStatus.PENDING, next_attempt_at=utcnow())
        .returning(OutboxMessage.id),
        execution_options={"synchronize_session": False},
    ).all()
    for message_id in released:
        record_audit("outbox.release", object_type="outbox_messages", object_id=message_id, actor=actor)
    if released:
        mark_email_queued(db.session())
    return len(released)
