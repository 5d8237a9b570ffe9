"""Sign-in and two-factor forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Regexp


class LoginForm(FlaskForm):
    # No format check at sign-in: an address that is not an account simply fails to authenticate, and
    # email_validator refuses special-use domains such as the demo's ".test".
    email = EmailField(
        "Email",
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[DataRequired(), Length(max=254)],
    )
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Keep me signed in on this device")


class TotpForm(FlaskForm):
    code = StringField(
        "Authentication code",
        validators=[DataRequired(), Length(min=6, max=7), Regexp(r"^\d{3} ?\d{3}$", message="six digits")],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
    )
