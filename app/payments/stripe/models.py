"""Every webhook event Stripe sent us, kept with what processing it did."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UTCDateTime, str_enum, utcnow
from app.extensions import db


class StripeEventStatus(enum.StrEnum):
    #: stored, waiting for the worker
    RECEIVED = "received"
    #: its effect is in our books (or was already: a duplicate of something we knew)
    PROCESSED = "processed"
    #: about an object we cannot find (no invoice with that reference, no payment with that id): kept and shown
    UNMATCHED = "unmatched"
    #: a Stripe Billing event; we bill ourselves, so there is nothing to do
    NOT_APPLICABLE = "not_applicable"
    #: a type we do not act on
    IGNORED = "ignored"
    #: processing raised; `error` says why and the operator (or the sweep) can run it again
    FAILED = "failed"


class StripeEvent(db.Model):
    __tablename__ = "stripe_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stripe's evt_...: unique, so a second delivery of the same event is never stored twice
    stripe_event_id: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    type: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    #: id of data.object (pi_..., cs_..., ch_..., du_...), to find every event about one object
    object_id: Mapped[str | None] = mapped_column(String(255), index=True)
    livemode: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: when Stripe created the event
    stripe_created: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the event as received (the verified raw body, parsed)
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    status: Mapped[StripeEventStatus] = mapped_column(
        str_enum(StripeEventStatus, 16), nullable=False, default=StripeEventStatus.RECEIVED
    )
    #: what processing did, in words ("settled invoice 12: paid", "already settled as payment 7")
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    #: processing attempts (a re-run adds one)
    attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    #: how many times Stripe delivered it (duplicates count here and change nothing else)
    deliveries: Mapped[int] = mapped_column(nullable=False, default=1)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_stripe_events_status_received", "status", "received_at"),)
