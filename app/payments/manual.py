"""The manual rail: the operator (or a script) records cash, checks, wires, ACH and money orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.billing.models import Invoice
from app.extensions import db
from app.money import MoneyError, parse_minor
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
    return settle_payment(
        invoice.id,
        IncomingPayment(
            rail=rail,
            rail_payment_id=reference,
            amount_received_minor=amount_minor,
            currency_received=invoice.currency,
            amount_minor=amount_minor,
            received_at=entry.received_at,
            note=entry.note,
            scan_path=entry.scan_path,
        ),
        actor=actor,
    )
