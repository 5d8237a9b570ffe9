"""Money: integer minor units plus a currency code. Parsing, formatting and conversion live here only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

# Minor-unit exponents (ISO 4217 for fiat; base units for crypto: satoshi, wei, USDC's 6 decimals).
EXPONENTS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CAD": 2,
    "AUD": 2,
    "CHF": 2,
    "NZD": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "MXN": 2,
    "BRL": 2,
    "INR": 2,
    "SGD": 2,
    "HKD": 2,
    "ZAR": 2,
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "VND": 0,
    "ISK": 0,
    "HUF": 2,
    "BHD": 3,
    "KWD": 3,
    "JOD": 3,
    "OMR": 3,
    "TND": 3,
    "BTC": 8,
    "ETH": 18,
    "USDC": 6,
}
#: the coins of the crypto rail (base units: satoshi, wei, USDC's 6 decimals); every other code is fiat
CRYPTO = frozenset({"BTC", "ETH", "USDC"})
SYMBOLS: dict[str, str] = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$"}

_AMOUNT = re.compile(r"^-?\d+(\.\d+)?$")


class MoneyError(ValueError):
    """An amount or currency that cannot be money; the message says why."""


def exponent(currency: str) -> int:
    code = normalise_currency(currency)
    return EXPONENTS[code]


def normalise_currency(currency: str) -> str:
    code = (currency or "").strip().upper()
    if code not in EXPONENTS:
        raise MoneyError(f"unknown currency {currency!r}")
    return code


def parse_minor(text: str, currency: str, *, allow_negative: bool = False) -> int:
    """'12.34' USD -> 1234. Refuses more decimals than the currency has, floats' notations, junk."""
    if not isinstance(text, str):
        raise MoneyError('amount must be a decimal string such as "12.34"')
    raw = text.strip().replace(",", "") if _looks_grouped(text.strip()) else text.strip()
    if not _AMOUNT.match(raw):
        raise MoneyError(f'{text!r} is not an amount; use digits with an optional decimal point, e.g. "12.34"')
    exp = exponent(currency)
    value = Decimal(raw)
    if value < 0 and not allow_negative:
        raise MoneyError("amount must not be negative")
    decimals = len(raw.split(".")[1]) if "." in raw else 0
    if decimals > exp:
        raise MoneyError(f"{normalise_currency(currency)} has {exp} decimal places; {text!r} has {decimals}")
    return int(value.scaleb(exp))


def _looks_grouped(text: str) -> bool:
    """Accept thousands separators only in their exact positions ("1,234.50")."""
    return bool(re.match(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$", text))


def to_decimal_string(amount_minor: int, currency: str) -> str:
    """1234 USD -> '12.34' (the API's amount format)."""
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool):
        raise MoneyError("minor-unit amounts are integers")
    exp = exponent(currency)
    return f"{Decimal(amount_minor).scaleb(-exp):.{exp}f}"


def format_money(amount_minor: int, currency: str) -> str:
    """1234567 USD -> '$12,345.67'; currencies without a symbol read '12,345.67 CHF'."""
    code = normalise_currency(currency)
    exp = EXPONENTS[code]
    sign = "-" if amount_minor < 0 else ""
    text = f"{Decimal(abs(amount_minor)).scaleb(-exp):,.{exp}f}"
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {code}"


def implied_rate(value_minor: int, value_currency: str, received_minor: int, received_currency: str) -> Decimal:
    """The rate two amounts imply: units of `value_currency` per one unit of `received_currency` (what a bank
    applied when it turned one into the other), to the 18 places the rate columns keep, rounded as they round."""
    if received_minor <= 0:
        raise MoneyError("the amount received must be positive")
    value = Decimal(value_minor).scaleb(-exponent(value_currency))
    rate = value / Decimal(received_minor).scaleb(-exponent(received_currency))
    return rate.quantize(Decimal(1).scaleb(-18), rounding=ROUND_HALF_UP)


def convert(amount_minor: int, from_currency: str, to_currency: str, rate: Decimal) -> int:
    """Convert with `rate` = units of `to` per one unit of `from`; rounds half-even to the target's minor unit."""
    if not isinstance(rate, Decimal):
        raise MoneyError("exchange rates are Decimal, never float")
    if rate <= 0:
        raise MoneyError("exchange rate must be positive")
    major = Decimal(amount_minor).scaleb(-exponent(from_currency)) * rate
    return int(major.scaleb(exponent(to_currency)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise MoneyError("Money holds an integer number of minor units")
        object.__setattr__(self, "currency", normalise_currency(self.currency))

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        return cls(parse_minor(text, currency), currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __str__(self) -> str:
        return format_money(self.amount_minor, self.currency)

    @property
    def decimal_string(self) -> str:
        return to_decimal_string(self.amount_minor, self.currency)
