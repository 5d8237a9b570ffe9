"""Money received on any rail, and money given back."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import RATE, BaseUnits, UTCDateTime, str_enum, utcnow
from app.extensions import db

if TYPE_CHECKING:
    from app.billing.models import Invoice


class Rail(enum.StrEnum):
    CARD = "card"
    BTC = "btc"
    ETH = "eth"
    USDC = "usdc"
    BANK_TRANSFER = "bank_transfer"
    WIRE = "wire"
    ACH = "ach"
    CASH = "cash"
    CHECK = "check"
    MONEY_ORDER = "money_order"


#: rails the operator records by hand (the "manual" rail family)
MANUAL_RAILS = (Rail.CASH, Rail.CHECK, Rail.WIRE, Rail.ACH, Rail.MONEY_ORDER, Rail.BANK_TRANSFER)


class PaymentStatus(enum.StrEnum):
    #: settled against its invoice (fully or partly), in the books
    SETTLED = "settled"
    #: arrived for an invoice that was expired, void or already paid: the operator decides
    NEEDS_REVIEW = "needs_review"
    #: the operator turned the held money into customer credit
    CREDITED = "credited"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    FAILED = "failed"


class Payment(db.Model):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), nullable=False, index=True)
    rail: Mapped[Rail] = mapped_column(str_enum(Rail, 16), nullable=False)
    #: the payment's id on its rail (Stripe pi_..., txid:vout, Plaid transaction id, the manual reference)
    rail_payment_id: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus, 24), nullable=False)
    #: what arrived, in the rail's own unit (cents, satoshi, wei, USDC base units)
    amount_received_minor: Mapped[int] = mapped_column(BaseUnits, nullable=False)
    currency_received: Mapped[str] = mapped_column(String(5), nullable=False)
    #: its value in the invoice currency, at exchange_rate
    amount_minor: Mapped[int] = mapped_column(nullable=False)
    currency: Mapped[str] = mapped_column(String(4), nullable=False)
    #: invoice-currency units per one unit of currency_received; 1 when they are the same
    exchange_rate: Mapped[Decimal] = mapped_column(RATE, nullable=False, default=Decimal(1))
    #: what the rail kept (Stripe fee, network fee), in the invoice currency
    fee_minor: Mapped[int] = mapped_column(nullable=False, default=0)
    #: the part of amount_minor applied to the invoice; the rest went to customer credit
    applied_minor: Mapped[int] = mapped_column(nullable=False, default=0)
    refunded_minor: Mapped[int] = mapped_column(nullable=False, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    #: free text from the operator, a bank memo, a failure reason
    note: Mapped[str | None] = mapped_column(Text)
    #: stored file name of a scanned check or receipt
    scan_path: Mapped[str | None] = mapped_column(String(300))
    #: "user:<id>", "api-token:<id>", "webhook:stripe", ...
    recorded_by: Mapped[str] = mapped_column(String(120), nullable=False, default="system")
    review_reason: Mapped[str | None] = mapped_column(String(200))
    disputed: Mapped[bool] = mapped_column(nullable=False, default=False)
    dispute_due_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    invoice: Mapped[Invoice | None] = relationship(back_populates="payments")
    refunds: Mapped[list[Refund]] = relationship(back_populates="payment", order_by="Refund.id")

    __table_args__ = (
        UniqueConstraint("rail", "rail_payment_id", name="uq_payments_rail_id"),
        CheckConstraint("amount_minor >= 0 AND amount_received_minor >= 0", name="amounts_not_negative"),
        CheckConstraint("fee_minor >= 0 AND fee_minor <= amount_minor", name="fee_within_amount"),
        CheckConstraint("refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refund_within_amount"),
        CheckConstraint("applied_minor >= 0 AND applied_minor <= amount_minor", name="applied_within_amount"),
    )


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(db.Model):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), nullable=False, index=True)
    amount_minor: Mapped[int] = mapped_column(nullable=False)
    currency: Mapped[str] = mapped_column(String(4), nullable=False)
    status: Mapped[RefundStatus] = mapped_column(str_enum(RefundStatus, 16), nullable=False)
    #: the refund's id on its rail (Stripe re_...), or an operator-given reference; unique per payment
    rail_refund_id: Mapped[str] = mapped_column(String(200), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(120), nullable=False, default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    payment: Mapped[Payment] = relationship(back_populates="refunds")

    __table_args__ = (
        UniqueConstraint("payment_id", "rail_refund_id", name="uq_refunds_payment_rail_id"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )


class DisputeStatus(enum.StrEnum):
    #: the customer's bank contests the payment; evidence is due by `due_by`
    OPEN = "open"
    #: closed in our favour (or an inquiry that never became a chargeback): the money stays ours
    WON = "won"
    #: closed in the customer's favour: the disputed amount is refunded to them
    LOST = "lost"


class Dispute(db.Model):
    """A payment contested by the customer's bank (a chargeback), one row per dispute on its rail."""

    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), nullable=False, index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), nullable=False, index=True)
    #: the dispute's id on its rail (Stripe du_... or dp_...); "flag:<payment id>" when only flagged by hand
    rail_dispute_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    status: Mapped[DisputeStatus] = mapped_column(str_enum(DisputeStatus, 16), nullable=False)
    #: the rail's own word for the state (Stripe: needs_response, under_review, warning_closed, won, lost ...)
    rail_status: Mapped[str | None] = mapped_column(String(40))
    #: the bank's reason (Stripe: fraudulent, product_not_received, subscription_canceled ...)
    reason: Mapped[str | None] = mapped_column(String(60))
    #: the contested amount, in the payment's currency
    amount_minor: Mapped[int] = mapped_column(nullable=False)
    currency: Mapped[str] = mapped_column(String(4), nullable=False)
    #: what the rail took from our balance for it, and what it gave back (in the ledger: disputed funds)
    withdrawn_minor: Mapped[int] = mapped_column(nullable=False, default=0)
    reinstated_minor: Mapped[int] = mapped_column(nullable=False, default=0)
    #: dispute fees kept by the rail: charged less returned (in the ledger: fees)
    fee_minor: Mapped[int] = mapped_column(nullable=False, default=0)
    #: when lost: the refund the held money became
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    #: the evidence deadline while open
    due_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    payment: Mapped[Payment] = relationship()
    refund: Mapped[Refund | None] = relationship()

    __table_args__ = (
        CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        CheckConstraint("withdrawn_minor >= 0 AND reinstated_minor >= 0", name="movements_not_negative"),
    )
