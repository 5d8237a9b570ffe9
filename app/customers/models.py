"""Customers of the operator's product."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import UTCDateTime, utcnow
from app.extensions import db

if TYPE_CHECKING:
    from app.billing.models import Subscription


class Customer(db.Model):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the operator's own user id for this customer; how the entitlement API and webhooks name them
    external_id: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    email: Mapped[str] = mapped_column(String(254), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    #: ISO 3166-1 alpha-2
    country: Mapped[str | None] = mapped_column(String(2))
    #: ISO 4217; invoices default to it
    preferred_currency: Mapped[str] = mapped_column(String(4), nullable=False, default="USD")
    #: credit from overpayments, in preferred_currency minor units; the ledger's customer_credit account backs it
    credit_balance_minor: Mapped[int] = mapped_column(nullable=False, default=0)
    #: the Stripe customer id once the card rail has seen them
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: the saved card (pm_...) that renewals and dunning charge off-session; set when the customer saves one
    stripe_payment_method_id: Mapped[str | None] = mapped_column(String(64))
    #: the sign-in account of the customer, when they have one
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)

    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="customer", lazy="select")

    def __repr__(self) -> str:
        return f"<Customer {self.external_id}>"
