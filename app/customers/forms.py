"""The new-customer form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp

from app.forms_common import CURRENCY_CHOICES, strip


class NewCustomerForm(FlaskForm):
    external_id = StringField(
        "External id",
        filters=[strip],
        validators=[DataRequired(), Length(max=120)],
        description="Your product's own user id for this customer; the API and webhooks use it.",
    )
    email = EmailField(
        "Email",
        filters=[strip],
        validators=[DataRequired(), Length(max=254), Email(check_deliverability=False, test_environment=True)],
    )
    name = StringField("Name", filters=[strip], validators=[Optional(), Length(max=200)])
    country = StringField(
        "Country",
        filters=[strip, lambda v: v.upper() if v else v],
        validators=[Optional(), Regexp(r"^[A-Z]{2}$", message="two letters (ISO 3166), e.g. US, DE, GB")],
    )
    currency = SelectField("Currency", choices=CURRENCY_CHOICES, default="USD")
