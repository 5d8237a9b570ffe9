"""The transactional outbox: messages written with the change that caused them, delivered by workers."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UTCDateTime, str_enum, utcnow
from app.extensions import db


class OutboxKind(enum.StrEnum):
    EMAIL = "email"
    #: push the day's books to the accounting system (arrives with the accounting capability)
    ACCOUNTING_SYNC = "accounting_sync"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    #: claimed by a worker until next_attempt_at (its lease); a worker that dies leaves it to be claimed again
    SENDING = "sending"
    SENT = "sent"
    #: gave up after the last retry; shown to the operator
    DEAD = "dead"
    #: kept, not sent: no SMTP server configured (make run without SMTP settings)
    HELD = "held"


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OutboxKind] = mapped_column(str_enum(OutboxKind, 24), nullable=False)
    #: one message per business event ("receipt:payment:42"): writing it twice keeps the first
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    #: for email: {"to", "subject", "template", "context", "attachments": [{"kind": "receipt_pdf", "payment_id": 42}]}
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus, 16), nullable=False, default=OutboxStatus.PENDING
    )
    #: delivery attempts so far; a claim counts as one (a worker may die after the message left)
    attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    #: when a pending message is due; for a sending one, when its claim lapses
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: for the customer timeline
    customer_id: Mapped[int | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_outbox_messages_due", "status", "next_attempt_at"),)
