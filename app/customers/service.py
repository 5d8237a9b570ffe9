"""Creating and finding customers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.audit.service import record_audit
from app.customers.models import Customer
from app.extensions import db
from app.money import normalise_currency


class CustomerExists(ValueError):
    """A customer with this external id is already there."""

    def __init__(self, customer: Customer) -> None:
        super().__init__(f"customer {customer.external_id!r} already exists")
        self.customer = customer


class CustomerNotFound(LookupError):
    pass


def create_customer(
    external_id: str, email: str, name: str = "", *, country: str | None = None, currency: str = "USD", actor: str
) -> Customer:
    """Raises CustomerExists when the external id is taken (the database decides, not a prior read)."""
    customer = Customer(
        external_id=external_id.strip(),
        email=email.strip().lower(),
        name=name.strip(),
        country=country.upper() if country else None,
        preferred_currency=normalise_currency(currency),
    )
    try:
        with db.session.begin_nested():
            db.session.add(customer)
    except IntegrityError:
        existing = db.session.scalar(select(Customer).where(Customer.external_id == external_id.strip()))
        if existing is None:
            raise
        raise CustomerExists(existing) from None
    record_audit("customer.created", customer, actor=actor, external_id=customer.external_id)
    return customer


def customer_by_external_id(external_id: str) -> Customer:
    customer = db.session.scalar(select(Customer).where(Customer.external_id == external_id))
    if customer is None:
        raise CustomerNotFound(external_id)
    return customer
