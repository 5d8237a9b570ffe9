"""Card rail forms: every one carries the CSRF token (Flask-WTF)."""

from __future__ import annotations

import secrets

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length, Regexp


class CardCheckoutForm(FlaskForm):
    save_card = BooleanField("Keep this card on file for future invoices")


class ManageCardForm(FlaskForm):
    """Only the CSRF token: opening the portal creates a session at Stripe, so it is a POST."""


class CardRefundForm(FlaskForm):
    amount = StringField(
        "Amount to refund",
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[DataRequired(message="enter the amount to refund, e.g. 12.50")],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    #: one per rendered form: submitting the same form twice is one refund at Stripe (its idempotency key)
    request_key = HiddenField(validators=[DataRequired(), Length(min=8, max=64), Regexp(r"^[A-Za-z0-9_-]+$")])

    def fresh_key(self) -> None:
        self.request_key.data = secrets.token_urlsafe(16)
