"""Plans, subscriptions and invoices: what customers owe, and for what."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import UTCDateTime, str_enum, utcnow
from app.extensions import db

if TYPE_CHECKING:
    from app.customers.models import Customer
    from app.payments.models import Payment


class Interval(enum.StrEnum):
    MONTH = "month"
    YEAR = "year"


class Plan(db.Model):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: stable identifier used by the API and the operator's product ("pro-monthly")
    code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    amount_minor: Mapped[int] = mapped_column(nullable=False)
    currency: Mapped[str] = mapped_column(String(4), nullable=False)
    interval: Mapped[Interval] = mapped_column(str_enum(Interval, 8), nullable=False, default=Interval.MONTH)
    trial_days: Mapped[int] = mapped_column(nullable=False, default=0)
    #: usage limits handed to the operator's product through the entitlement API ({"seats": 5, ...})
    limits: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    #: the plan customers fall back to after a trial or dunning; price 0
    is_free: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        CheckConstraint("trial_days >= 0", name="trial_days_not_negative"),
    )


class SubscriptionStatus(enum.StrEnum):
    #: created, first invoice not paid yet (no access)
    INCOMPLETE = "incomplete"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class Subscription(db.Model):
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), nullable=False, index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), nullable=False, index=True)
    status: Mapped[SubscriptionStatus] = mapped_column(str_enum(SubscriptionStatus, 16), nullable=False)
    #: periods are counted from here, so month ends do not drift (Jan 31 -> Feb 28 -> Mar 31)
    billing_anchor: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    current_period_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: paid-until for active subscriptions; the renewal job invoices when it is reached
    current_period_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    trial_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancellation_reason: Mapped[str | None] = mapped_column(String(64))
    cancellation_feedback: Mapped[str | None] = mapped_column(Text)
    #: when the unpaid renewal first failed; dunning counts days from here
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the last dunning step taken (0 none, then 1, 3, 7, 10 by default)
    dunning_step: Mapped[int] = mapped_column(nullable=False, default=0)
    #: a plan change waiting for its first invoice: the subscription it ends once that is paid (billing/plan_changes)
    replaces_subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    customer: Mapped[Customer] = relationship(back_populates="subscriptions")
    plan: Mapped[Plan] = relationship()

    __table_args__ = (Index("ix_subscriptions_status_period_end", "status", "current_period_end"),)


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"
    EXPIRED = "expired"


class Invoice(db.Model):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: sequential, gap-free per installation (from the counters table)
    number: Mapped[int] = mapped_column(unique=True, nullable=False)
    #: "ADV" + 8 digits, alphanumeric only so bank memo fields keep it intact
    reference_code: Mapped[str] = mapped_column(String(11), unique=True, nullable=False)
    #: the unguessable token of the customer's pay page /pay/<token>
    pay_token: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), nullable=False, index=True)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    #: the service period a subscription invoice pays for; unique per subscription so renewals run once
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    currency: Mapped[str] = mapped_column(String(4), nullable=False)
    amount_due_minor: Mapped[int] = mapped_column(nullable=False)
    #: applied payments and credit, in the invoice currency (never above amount_due_minor)
    amount_paid_minor: Mapped[int] = mapped_column(nullable=False, default=0)
    status: Mapped[InvoiceStatus] = mapped_column(str_enum(InvoiceStatus, 16), nullable=False, index=True)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    #: after this the pay page stops quoting; late money goes to the operator for review
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when the invoice email with its pay link went out
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the last overdue reminder sent, in days overdue (3, 7, 14)
    reminder_days_sent: Mapped[int] = mapped_column(nullable=False, default=0)
    memo: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    customer: Mapped[Customer] = relationship()
    subscription: Mapped[Subscription | None] = relationship()
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceLine.id"
    )
    payments: Mapped[list[Payment]] = relationship(back_populates="invoice", order_by="Payment.id")

    __table_args__ = (
        UniqueConstraint("subscription_id", "period_start", name="uq_invoices_subscription_period"),
        CheckConstraint("amount_due_minor >= 0", name="amount_due_not_negative"),
        CheckConstraint("amount_paid_minor >= 0 AND amount_paid_minor <= amount_due_minor", name="paid_within_due"),
        Index("ix_invoices_status_due", "status", "due_at"),
    )

    @property
    def amount_remaining_minor(self) -> int:
        return self.amount_due_minor - self.amount_paid_minor


class InvoiceLine(db.Model):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), nullable=False, index=True)
    description: Mapped[str] = mapped_column(String(500), nullable=False)
    quantity: Mapped[int] = mapped_column(nullable=False, default=1)
    unit_amount_minor: Mapped[int] = mapped_column(nullable=False)
    amount_minor: Mapped[int] = mapped_column(nullable=False)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class Counter(db.Model):
    """Named gap-free sequences (invoice numbers), advanced under a row lock."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(nullable=False, default=0)
