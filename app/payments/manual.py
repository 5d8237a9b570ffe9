"""The manual rail: the operator (or a script) records cash, checks, wires, ACH and money orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.billing.models import Invoice
from app.extensions import db
from app.money import CRYPTO, MoneyError, implied_rate, normalise_currency, parse_minor
from app.payments.models import MANUAL_RAILS, Rail
from app.payments.settlement import IncomingPayment, SettlementResult, settle_payment


class ManualPaymentError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ManualPayment:
    method: str
    amount: str  # decimal string in the invoice currency
    reference: str
    received_at: datetime | None = None
    note: str | None = None
    scan_path: str | None = None
    #: what actually arrived, when it came in another currency (a EUR wire for a USD invoice); `amount` is then
    #: its value in the invoice currency, as the bank converted it
    received_amount: str | None = None
    received_currency: str | None = None


def record_manual_payment(invoice_id: int, entry: ManualPayment, *, actor: str) -> SettlementResult:
    """Validates, then settles; the reference is the payment's id on its rail, so recording it twice is one payment."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise ManualPaymentError("invoice", f"no invoice {invoice_id}")
    try:
        rail = Rail(entry.method)
    except ValueError:
        rail = None
    if rail not in MANUAL_RAILS:
        raise ManualPaymentError("method", f"method must be one of {', '.join(r.value for r in MANUAL_RAILS)}")
    try:
        amount_minor = parse_minor(entry.amount, invoice.currency)
    except MoneyError as exc:
        raise ManualPaymentError("amount", str(exc)) from exc
    if amount_minor <= 0:
        raise ManualPaymentError("amount", "amount must be greater than zero")
    reference = (entry.reference or "").strip()
    if not reference or len(reference) > 200:
        raise ManualPaymentError(
            "reference",
            "reference is required (at most 200 characters): a check number, a bank reference, a receipt number",
        )
    received_minor, received_currency, rate = _received(entry, invoice.currency, amount_minor)
    return settle_payment(
        invoice.id,
        IncomingPayment(
            rail=rail,
            rail_payment_id=reference,
            amount_received_minor=received_minor,
            currency_received=received_currency,
            amount_minor=amount_minor,
            exchange_rate=rate,
            received_at=entry.received_at,
            note=entry.note,
            scan_path=entry.scan_path,
        ),
        actor=actor,
    )


def _received(entry: ManualPayment, invoice_currency: str, amount_minor: int) -> tuple[int, str, Decimal]:
    """(amount received, its currency, invoice-currency units per unit received): the payment's own unit and the
    rate the bank applied, read off the two amounts; the books hold `amount_minor` in the invoice currency."""
    if not entry.received_currency or entry.received_currency.strip().upper() == invoice_currency:
        if entry.received_amount and entry.received_amount.strip():
            raise ManualPaymentError(
                "received_currency",
                f"received_amount is for money that arrived in another currency than {invoice_currency}: name it",
            )
        return amount_minor, invoice_currency, Decimal(1)
    try:
        currency = normalise_currency(entry.received_currency)
    except MoneyError as exc:
        raise ManualPaymentError("received_currency", str(exc)) from exc
    if currency in CRYPTO:
        raise ManualPaymentError("received_currency", f"{currency} arrives on the crypto rail, not as a manual payment")
    try:
        received_minor = parse_minor(entry.received_amount or "", currency)
    except MoneyError as exc:
        raise ManualPaymentError("received_amount", f"what arrived in {currency}: {exc}") from exc
    if received_minor <= 0:
        raise ManualPaymentError("received_amount", "received_amount must be greater than zero")
    return received_minor, currency, implied_rate(amount_minor, invoice_currency, received_minor, currency)
