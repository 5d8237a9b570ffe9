"""The settings form: business details, invoice timing, reminders, dunning, rails and bank instructions."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.forms_common import strip
from app.payments.models import Rail

RAIL_LABELS = {
    Rail.CARD: "Card (Stripe)",
    Rail.BTC: "Bitcoin",
    Rail.ETH: "Ether",
    Rail.USDC: "USDC",
    Rail.BANK_TRANSFER: "Bank transfer",
    Rail.WIRE: "Wire",
    Rail.ACH: "ACH",
    Rail.CASH: "Cash",
    Rail.CHECK: "Check",
    Rail.MONEY_ORDER: "Money order",
}
DUNNING_ACTIONS = [SelectChoice("retry", "Retry the payment"), SelectChoice("downgrade", "Downgrade to the free plan")]
DUNNING_EMAILS = [
    SelectChoice("dunning_retry", "Payment failed, we will retry"),
    SelectChoice("dunning_update_card", "Please update your payment method"),
    SelectChoice("dunning_final_warning", "Final warning"),
    SelectChoice("dunning_downgraded", "You were moved to the free plan"),
]
DUNNING_ROWS = 6


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class DunningStepForm(Form):
    day = IntegerField("Day", validators=[Optional(), NumberRange(min=1, max=90)])
    action = SelectField("Action", choices=DUNNING_ACTIONS)
    email = SelectField("Email", choices=DUNNING_EMAILS)


def _day_list(text: str) -> list[int]:
    parts = [p.strip() for p in (text or "").replace(";", ",").split(",") if p.strip()]
    if not all(p.isdigit() and 1 <= int(p) <= 365 for p in parts):
        raise ValidationError("whole numbers of days from 1 to 365, separated by commas, e.g. 3, 7, 14")
    days = [int(p) for p in parts]
    if days != sorted(set(days)):
        raise ValidationError("list each day once, in increasing order")
    return days


class SettingsForm(FlaskForm):
    business_name = StringField("Business name", filters=[strip], validators=[DataRequired(), Length(max=200)])
    business_address = TextAreaField("Address", filters=[strip], validators=[Length(max=1000)], render_kw={"rows": 3})
    business_tax_id = StringField("Tax id (VAT, EIN…)", filters=[strip], validators=[Length(max=64)])
    business_email = EmailField(
        "Billing email",
        filters=[strip],
        validators=[DataRequired(), Email(check_deliverability=False, test_environment=True)],
    )
    logo = FileField("Logo (PNG or JPEG)")
    remove_logo = BooleanField("Remove the current logo")
    operator_alert_email = EmailField(
        "Alerts go to",
        filters=[strip],
        validators=[DataRequired(), Email(check_deliverability=False, test_environment=True)],
    )
    invoice_due_days = IntegerField("Due after (days)", validators=[NumberRange(min=0, max=365)])
    invoice_expiry_days = IntegerField("Expire after due date (days)", validators=[NumberRange(min=1, max=365)])
    reminder_days = StringField("Reminders (days overdue)", filters=[strip])
    dunning = FieldList(FormField(DunningStepForm), min_entries=DUNNING_ROWS, max_entries=DUNNING_ROWS)
    rails_enabled = MultiCheckboxField(
        "Payment methods offered", choices=[SelectChoice(r.value, RAIL_LABELS[r]) for r in Rail]
    )
    bank_instructions = TextAreaField(
        "Bank instructions (shown on the pay page)",
        filters=[strip],
        validators=[Length(max=2000)],
        render_kw={"rows": 5},
    )

    def validate_reminder_days(self, field: StringField) -> None:
        _day_list(field.data)

    def validate_dunning(self, field: FieldList) -> None:
        steps = self.dunning_steps()
        days = [step["day"] for step in steps]
        if days != sorted(set(days)):
            raise ValidationError("dunning days must increase from one step to the next")
        if any(step["action"] == "downgrade" for step in steps[:-1]):
            raise ValidationError("downgrading ends dunning, so it can only be the last step")

    def reminder_day_list(self) -> list[int]:
        return _day_list(self.reminder_days.data)

    def dunning_steps(self) -> list[dict]:
        """Filled rows, as the "dunning.schedule" setting stores them; a row without a day is unused."""
        return [
            {"day": e.form.day.data, "action": e.form.action.data, "email": e.form.email.data}
            for e in self.dunning.entries
            if e.form.day.data is not None
        ]

    def fill(self, values: dict) -> None:
        """Shows the current settings (on GET)."""
        self.business_name.data = values["business.name"]
        self.business_address.data = values["business.address"]
        self.business_tax_id.data = values["business.tax_id"]
        self.business_email.data = values["business.email"]
        self.operator_alert_email.data = values["operator.alert_email"]
        self.invoice_due_days.data = values["invoice.due_days"]
        self.invoice_expiry_days.data = values["invoice.expiry_days"]
        self.reminder_days.data = ", ".join(str(d) for d in values["reminders.days_overdue"])
        for entry, step in zip(self.dunning.entries, values["dunning.schedule"], strict=False):
            entry.form.day.data, entry.form.action.data, entry.form.email.data = (
                step["day"],
                step["action"],
                step["email"],
            )
        self.rails_enabled.data = list(values["rails.enabled"])
        self.bank_instructions.data = values["bank.instructions"]

    def values(self) -> dict:
        """The submitted settings by key (the logo is handled apart, as a file)."""
        return {
            "business.name": self.business_name.data,
            "business.address": self.business_address.data or "",
            "business.tax_id": self.business_tax_id.data or "",
            "business.email": self.business_email.data.lower(),
            "operator.alert_email": self.operator_alert_email.data.lower(),
            "invoice.due_days": self.invoice_due_days.data,
            "invoice.expiry_days": self.invoice_expiry_days.data,
            "reminders.days_overdue": self.reminder_day_list(),
            "dunning.schedule": self.dunning_steps(),
            "rails.enabled": [r.value for r in Rail if r.value in (self.rails_enabled.data or [])],
            "bank.instructions": self.bank_instructions.data or "",
        }
