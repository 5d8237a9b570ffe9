"""Writing to the outbox. Services call these inside their transaction; workers deliver (see delivery.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.notifications.dispatch import mark_email_queued
from app.notifications.models import OutboxKind, OutboxMessage


def queue_email(
    *,
    to: str,
    subject: str,
    template: str,
    context: dict[str, Any],
    dedupe_key: str,
    customer_id: int | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> OutboxMessage:
    """`template` names templates/emails/<template>.txt (and .html if present); context must be JSON-able.

    `attachments` are rendered at delivery time, e.g. [{"kind": "receipt_pdf", "payment_id": 42}].
    Queuing the same dedupe_key twice keeps the first message.
    """
    payload = {"to": to, "subject": subject, "template": template, "context": context, "attachments": attachments or []}
    return _queue(OutboxKind.EMAIL, dedupe_key, payload, customer_id)


def queue_accounting_sync(*, object_type: str, object_id: int) -> OutboxMessage:
    return _queue(
        OutboxKind.ACCOUNTING_SYNC,
        f"accounting:{object_type}:{object_id}",
        {"object_type": object_type, "object_id": object_id},
        None,
    )


def _queue(kind: OutboxKind, dedupe_key: str, payload: dict, customer_id: int | None) -> OutboxMessage:
    message = OutboxMessage(kind=kind, dedupe_key=dedupe_key, payload=payload, customer_id=customer_id)
    try:
        with db.session.begin_nested():
            db.session.add(message)
    except IntegrityError:
        return db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key))
    if kind == OutboxKind.EMAIL:
        mark_email_queued(db.session())  # a worker is woken when the caller commits (dispatch.py)
    return message
