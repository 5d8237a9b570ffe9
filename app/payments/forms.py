"""Forms of the payment screens: recording a manual payment against an invoice, and recording a refund."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.billing.models import Invoice
from app.db_types import utcnow
from app.forms_common import CURRENCY_CHOICES, MoneyField, strip
from app.money import to_decimal_string
from app.payments.models import MANUAL_RAILS, Payment, Rail

METHOD_LABELS = {
    Rail.CASH: "Cash",
    Rail.CHECK: "Check",
    Rail.WIRE: "Wire",
    Rail.ACH: "ACH",
    Rail.MONEY_ORDER: "Money order",
    Rail.BANK_TRANSFER: "Bank transfer",
}
METHOD_CHOICES = [SelectChoice(rail.value, METHOD_LABELS[rail]) for rail in MANUAL_RAILS]


class RecordPaymentForm(FlaskForm):
    method = SelectField("Method", choices=METHOD_CHOICES, default=Rail.CASH.value)
    amount = MoneyField("Amount")
    received_on = DateField("Date received", validators=[DataRequired(message="the date the money arrived")])
    reference = StringField(
        "Reference",
        filters=[strip],
        render_kw={"placeholder": "check number, bank reference, receipt number", "autocomplete": "off"},
    )
    note = TextAreaField("Note", filters=[strip], validators=[Optional(), Length(max=2000)], render_kw={"rows": 2})
    scan = FileField("Scan of the check or receipt (PDF, PNG or JPEG)")
    received_currency = SelectField(
        "Arrived in", choices=[SelectChoice("", "the invoice's currency"), *CURRENCY_CHOICES], default=""
    )
    received_amount = MoneyField("Amount that arrived")

    @classmethod
    def for_invoice(cls, invoice: Invoice) -> RecordPaymentForm:
        form = cls(formdata=None)
        form.amount.data = to_decimal_string(invoice.amount_remaining_minor, invoice.currency)
        form.received_on.data = utcnow().date()
        return form

    def validate_received_on(self, field: DateField) -> None:
        # The operator's timezone is not known here: "today" anywhere on Earth is at most tomorrow in UTC.
        if field.data > utcnow().date() + timedelta(days=1):
            raise ValidationError("the date received cannot be in the future")
        if field.data < date(2000, 1, 1):
            raise ValidationError("the date received is too far in the past")

    def received_at(self) -> datetime:
        # Midday UTC keeps the calendar date the operator typed in every timezone within twelve hours of UTC.
        return datetime.combine(self.received_on.data, time(12, 0), tzinfo=UTC)


class RefundForm(FlaskForm):
    payment = SelectField("Payment", coerce=int, validate_choice=True)
    amount = MoneyField("Amount to refund")
    reference = StringField(
        "Refund reference",
        filters=[strip],
        validators=[DataRequired(message="the reference of the money you sent back"), Length(max=200)],
        render_kw={"placeholder": "e.g. the outgoing transfer's reference", "autocomplete": "off"},
    )
    reason = StringField("Reason", filters=[strip], validators=[Optional(), Length(max=200)])

    @classmethod
    def for_invoice(cls, invoice: Invoice, *, submitted: bool = False) -> RefundForm:
        """`submitted` reads the request's form; otherwise an empty form to show."""
        from app.billing.invoice_page import refundable_payments

        form = cls() if submitted else cls(formdata=None)
        payments = refundable_payments(invoice)
        form.payment.choices = [SelectChoice(p.id, _payment_label(p)) for p in payments]
        form.refundable = {p.id: p for p in payments}
        return form

    def chosen_payment(self) -> Payment | None:
        return self.refundable.get(self.payment.data)

    def validate_amount(self, field: MoneyField) -> None:
        payment = self.chosen_payment()
        if payment is not None:
            field.parse(payment.currency)


def _payment_label(payment: Payment) -> str:
    left = payment.amount_minor - payment.refunded_minor
    return (
        f"{METHOD_LABELS.get(payment.rail, payment.rail.value)} · ref {payment.rail_payment_id} · "
        f"{to_decimal_string(left, payment.currency)} {payment.currency} refundable"
    )
