"""Forms of the billing screens: a new invoice (its lines) and a new plan."""

from __future__ import annotations

import json

from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

from app.billing.invoices import LineInput
from app.forms_common import CURRENCY_CHOICES, MoneyField, strip

#: rows the new-invoice form starts with; "Add line" fetches more
STARTING_LINES = 3
MAX_LINES = 50


class LineForm(Form):
    """One invoice line; a row left entirely blank is ignored."""

    description = StringField("Description", filters=[strip], validators=[Optional(), Length(max=500)])
    amount = MoneyField("Amount")

    @property
    def blank(self) -> bool:
        return not self.description.data and not self.amount.data


class NewInvoiceForm(FlaskForm):
    currency = SelectField("Currency", choices=CURRENCY_CHOICES)
    lines = FieldList(FormField(LineForm), min_entries=STARTING_LINES, max_entries=MAX_LINES)
    due_days = IntegerField(
        "Due in (days)", validators=[Optional(), NumberRange(min=0, max=365)], render_kw={"inputmode": "numeric"}
    )
    memo = TextAreaField("Memo (shown to the customer)", filters=[strip], validators=[Optional(), Length(max=2000)])

    def validate_lines(self, field: FieldList) -> None:
        """Each filled line needs a description and a positive amount in the chosen currency."""
        filled = 0
        for entry in field.entries:
            line: LineForm = entry.form
            if line.blank:
                continue
            filled += 1
            if not line.description.data:
                line.description.errors.append("a line needs a description")
            try:
                line.amount.parse(self.currency.data)
            except ValidationError as exc:
                line.amount.errors.append(str(exc))
        if filled == 0:
            field.entries[0].form.description.errors.append("add at least one line")
        if any(entry.form.errors for entry in field.entries):
            raise ValidationError("some lines need attention")

    def line_inputs(self) -> list[LineInput]:
        return [
            LineInput(entry.form.description.data, entry.form.amount.minor)
            for entry in self.lines.entries
            if not entry.form.blank
        ]


class PlanForm(FlaskForm):
    code = StringField(
        "Code",
        filters=[strip],
        validators=[
            DataRequired(),
            Length(max=64),
            Regexp(r"^[a-z0-9][a-z0-9-]*$", message="lower-case letters, digits and dashes, e.g. pro-monthly"),
        ],
    )
    name = StringField("Name", filters=[strip], validators=[DataRequired(), Length(max=120)])
    amount = MoneyField("Price", validators=[DataRequired()])
    currency = SelectField("Currency", choices=CURRENCY_CHOICES, default="USD")
    interval = SelectField("Billed every", choices=[SelectChoice("month"), SelectChoice("year")], default="month")
    trial_days = IntegerField("Trial days", default=0, validators=[Optional(), NumberRange(min=0, max=365)])
    seats = IntegerField("Seats", validators=[Optional(), NumberRange(min=1, max=1_000_000)])
    limits = TextAreaField(
        "Other limits (JSON object)",
        filters=[strip],
        validators=[Optional(), Length(max=4000)],
        render_kw={"placeholder": '{"projects": 10, "api_calls": 50000}', "rows": 3},
    )

    def validate_amount(self, field: MoneyField) -> None:
        field.parse(self.currency.data, positive=False)

    def validate_limits(self, field: TextAreaField) -> None:
        try:
            value = json.loads(field.data)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not valid JSON: {exc.msg} at character {exc.pos}") from exc
        if not isinstance(value, dict):
            raise ValidationError('must be a JSON object, e.g. {"projects": 10}')

    def limits_value(self) -> dict:
        limits = json.loads(self.limits.data) if self.limits.data else {}
        if self.seats.data is not None:
            limits["seats"] = self.seats.data
        return limits


class ChangePlanForm(FlaskForm):
    """The customer page's plan change; the choices are the active plans other than the current one."""

    plan = SelectField("New plan", validators=[DataRequired(message="Pick the plan to move to.")])


class EndSubscriptionForm(FlaskForm):
    """Ending a subscription from the customer page: at the end of the paid period (active paid plans) or now."""

    when = SelectField("End it", validators=[DataRequired()])

    @classmethod
    def for_subscription(cls, sub) -> EndSubscriptionForm:  # noqa: ANN001
        form = cls()
        now = SelectChoice("now", "Now (access ends; open invoices are voided)")
        if sub is not None and sub.status.value == "active" and not sub.plan.is_free and not sub.cancel_at_period_end:
            form.when.choices = [
                SelectChoice("period_end", f"At the end of the paid period ({sub.current_period_end:%Y-%m-%d})"),
                now,
            ]
        else:
            form.when.choices = [now]
        return form
