"""The double-entry ledger: every movement of money is a transaction of entries that sum to zero per currency."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import UTCDateTime, str_enum, utcnow
from app.extensions import db


class Account(enum.StrEnum):
    """Debit-positive. Assets (receivable, cash, fees expense) carry positive balances; revenue and credit negative."""

    RECEIVABLE = "receivable"
    REVENUE = "revenue"
    #: contra-revenue: money given back
    REFUNDS = "refunds"
    #: what rails kept (an expense)
    FEES = "fees"
    #: a liability to the customer: overpayments and held late payments turned into credit
    CUSTOMER_CREDIT = "customer_credit"
    #: payments awaiting the operator's decision (a liability until applied, credited or refunded)
    SUSPENSE = "suspense"
    FX_GAIN_LOSS = "fx_gain_loss"
    #: written-off receivables (uncollectible invoices)
    BAD_DEBT = "bad_debt"
    #: an asset: money a card network took back while a dispute (chargeback) is open; it returns to cash when
    #: the dispute is won, or becomes a refund to the customer when it is lost
    DISPUTED_FUNDS = "disputed_funds"
    CASH_CARD = "cash:card"
    CASH_BTC = "cash:btc"
    CASH_ETH = "cash:eth"
    CASH_USDC = "cash:usdc"
    CASH_BANK_TRANSFER = "cash:bank_transfer"
    CASH_WIRE = "cash:wire"
    CASH_ACH = "cash:ach"
    CASH_CASH = "cash:cash"
    CASH_CHECK = "cash:check"
    CASH_MONEY_ORDER = "cash:money_order"

    @classmethod
    def cash_for(cls, rail: str) -> Account:
        return cls(f"cash:{rail}")


class LedgerTransaction(db.Model):
    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: what happened: "invoice.issued", "payment.settled", "refund", "credit.applied", "invoice.voided" ...
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    #: one posting per business event: a second posting of the same key is refused by the database
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    description: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)

    entries: Mapped[list[LedgerEntry]] = relationship(back_populates="transaction", cascade="all, delete-orphan")


class LedgerEntry(db.Model):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), nullable=False, index=True)
    account: Mapped[Account] = mapped_column(str_enum(Account, 32), nullable=False)
    #: per-customer sub-ledger for receivable and customer_credit
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    currency: Mapped[str] = mapped_column(String(5), nullable=False)
    #: debit positive, credit negative, in minor units of currency
    amount_minor: Mapped[int] = mapped_column(nullable=False)

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")

    __table_args__ = (Index("ix_ledger_entries_account_customer", "account", "customer_id", "currency"),)
