"""Pieces shared by the operator's forms: currency choices, whitespace trimming, money fields."""

from __future__ import annotations

from wtforms import SelectChoice, StringField
from wtforms.validators import ValidationError

from app.money import CRYPTO, EXPONENTS, MoneyError, parse_minor

#: currencies an operator invoices in; crypto is a way to pay, not a price list's currency
FIAT_CURRENCIES = sorted(code for code in EXPONENTS if code not in CRYPTO)
CURRENCY_CHOICES = [SelectChoice(code) for code in FIAT_CURRENCIES]


def strip(value):
    return value.strip() if isinstance(value, str) else value


class MoneyField(StringField):
    """A decimal string ("49.00"); the form parses it in the currency it knows (`parse`), `minor` keeps the result."""

    def __init__(self, label=None, validators=None, **kwargs) -> None:
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators, filters=[strip], **kwargs)
        self.minor: int | None = None

    def parse(self, currency: str, *, positive: bool = True) -> int:
        try:
            minor = parse_minor(self.data or "", currency)
        except MoneyError as exc:
            raise ValidationError(str(exc)) from exc
        if positive and minor <= 0:
            raise ValidationError("amount must be greater than zero")
        self.minor = minor
        return minor
