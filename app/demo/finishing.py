"""Closing the demo history: the outbox of the past counts as delivered, so no fake customer is e-mailed."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select, update

from app.extensions import db
from app.notifications.models import OutboxKind, OutboxMessage, OutboxStatus

#: messages younger than this stay pending, so the outbox screen and the delivery job have something to show
STILL_PENDING = timedelta(days=2)
#: receipts that bounced: the dashboard's failing-e-mail figure has something real to count
BOUNCES = 2


def close_outbox(rng: random.Random, end: datetime) -> dict[str, int]:
    """Historical messages become sent at the moment they were written; a couple of recent receipts bounced.

    Demo addresses use the reserved `.example` domain, so even the pending ones can never reach anyone."""
    cutoff = end - STILL_PENDING
    sent = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.created_at < cutoff)
        .values(status=OutboxStatus.SENT, sent_at=OutboxMessage.created_at, attempts=1)
        .execution_options(synchronize_session=False)
    ).rowcount
    recent_receipts = db.session.scalars(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.kind == OutboxKind.EMAIL,
            OutboxMessage.customer_id.is_not(None),
            OutboxMessage.created_at >= end - timedelta(days=14),
            OutboxMessage.created_at < cutoff,
        )
        .order_by(OutboxMessage.id)
    ).all()
    bounced = rng.sample(recent_receipts, min(BOUNCES, len(recent_receipts)))
    if bounced:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(bounced))
            .values(
                status=OutboxStatus.DEAD,
                sent_at=None,
                attempts=8,
                last_error="550 5.1.1 recipient address rejected: mailbox unavailable",
            )
            .execution_options(synchronize_session=False)
        )
    return {"outbox sent (history)": sent - len(bounced), "outbox bounced": len(bounced)}
