"""Input validation for the JSON API: a request body or query string in, typed values out, or an ApiError naming
the field. Nothing here touches the database; handlers look things up after the shape is known to be right."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email

from app.api.errors import ApiError, invalid
from app.billing.models import Interval, InvoiceStatus, SubscriptionStatus
from app.db_types import utcnow
from app.money import CRYPTO, EXPONENTS, MoneyError, parse_minor
from app.payments.models import MANUAL_RAILS

#: money.EXPONENTS also knows crypto units; those are rails, never the currency of a customer, plan or invoice
CURRENCIES: tuple[str, ...] = tuple(sorted(code for code in EXPONENTS if code not in CRYPTO))
PAYMENT_METHODS: tuple[str, ...] = tuple(rail.value for rail in MANUAL_RAILS)
MAX_PAGE = 100
DEFAULT_PAGE = 20
MAX_LINES = 100
#: codes and external ids appear in URLs (/customers/<external_id>), so no slash, space or control character
_URL_SAFE_ID = re.compile(r"[^\s/?#%\\\x00-\x1f\x7f]+")
_PLAN_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
#: the API's amount format, stricter than money.parse_minor (no sign, no thousands separators)
_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
#: a clock a little ahead of ours is not an error; a date next week is
_FUTURE_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class CustomerInput:
    external_id: str
    email: str
    name: str
    country: str | None
    currency: str


@dataclass(frozen=True)
class PlanInput:
    code: str
    name: str
    amount_minor: int
    currency: str
    interval: Interval
    trial_days: int
    limits: dict[str, Any]


@dataclass(frozen=True)
class SubscriptionInput:
    customer: str
    plan: str


@dataclass(frozen=True)
class LineData:
    description: str
    amount_minor: int
    quantity: int


@dataclass(frozen=True)
class InvoiceInput:
    customer: str
    currency: str
    lines: tuple[LineData, ...]
    memo: str | None
    due_days: int | None


@dataclass(frozen=True)
class PaymentInput:
    method: str
    #: kept as the decimal string: the manual rail parses it in the invoice's currency
    amount: str
    reference: str
    note: str | None
    received_at: datetime | None
    #: what arrived, when in another currency than the invoice's (then `amount` is its converted value)
    received_amount: str | None = None
    received_currency: str | None = None


@dataclass(frozen=True)
class Page:
    limit: int
    after: int | None


class Body:
    """Reads one JSON object, refusing unknown fields so a typo ("ammount") is an error, not a silent default."""

    def __init__(self, data: Any, allowed: set[str], prefix: str = "") -> None:
        if not isinstance(data, dict):
            raise ApiError(400, prefix.rstrip(".") or None, "expected a JSON object")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise invalid(prefix + unknown[0], f"unknown field {unknown[0]!r}; expected: {', '.join(sorted(allowed))}")
        self.data = data
        self.prefix = prefix

    def name(self, key: str) -> str:
        return self.prefix + key

    def string(
        self, key: str, *, required: bool = True, max_length: int = 200, allow_empty: bool = False
    ) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise invalid(self.name(key), f"{self.name(key)} is required")
            return None
        if not isinstance(value, str):
            raise invalid(self.name(key), f"{self.name(key)} must be a string")
        value = value.strip()
        if not value and not allow_empty:
            raise invalid(self.name(key), f"{self.name(key)} must not be empty")
        if len(value) > max_length:
            raise invalid(self.name(key), f"{self.name(key)} must be at most {max_length} characters")
        return value

    def integer(self, key: str, *, default: int | None, low: int, high: int) -> int | None:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid(self.name(key), f"{self.name(key)} must be a whole number")
        if not low <= value <= high:
            raise invalid(self.name(key), f"{self.name(key)} must be between {low} and {high}")
        return value

    def currency(self, key: str = "currency", *, default: str | None = None) -> str:
        value = self.string(key, required=default is None, max_length=8) or default
        code = value.upper()
        if code not in CURRENCIES:
            raise invalid(self.name(key), f"{self.name(key)} must be an ISO 4217 code we support, not {value!r}")
        return code

    def amount(self, key: str, currency: str) -> int:
        """A decimal string in the currency's units ("49.00" USD -> 4900); numbers are refused (no floats)."""
        value = self.data.get(key)
        if value is None:
            raise invalid(self.name(key), f"{self.name(key)} is required")
        _check_amount_text(self.name(key), value)
        try:
            return parse_minor(value, currency)
        except MoneyError as exc:
            raise invalid(self.name(key), f"{self.name(key)}: {exc}") from None


def _check_amount_text(field: str, value: Any) -> None:
    if not isinstance(value, str):
        raise invalid(field, f'{field} must be a decimal string such as "49.00", not a number')
    if not _AMOUNT.fullmatch(value):
        raise invalid(field, f'{field} must be digits with an optional decimal point, such as "49.00"; got {value!r}')


def customer_input(data: Any) -> CustomerInput:
    body = Body(data, {"external_id", "email", "name", "country", "currency"})
    external_id = body.string("external_id", max_length=120)
    if not _URL_SAFE_ID.fullmatch(external_id):
        raise invalid("external_id", "external_id must not contain spaces, '/', '?', '#', '%' or control characters")
    email = body.string("email", max_length=254)
    try:
        email = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise invalid("email", f"email is not valid: {exc}") from None
    name = body.string("name", max_length=200)
    country = body.string("country", required=False, max_length=2)
    if country is not None and not _COUNTRY.fullmatch(country):
        raise invalid("country", "country must be an ISO 3166-1 alpha-2 code such as 'US'")
    return CustomerInput(external_id, email, name, country.upper() if country else None, body.currency(default="USD"))


def plan_input(data: Any) -> PlanInput:
    body = Body(data, {"code", "name", "amount", "currency", "interval", "trial_days", "limits"})
    code = body.string("code", max_length=64)
    if not _PLAN_CODE.fullmatch(code):
        raise invalid("code", "code may hold letters, digits, '.', '_' and '-', starting with a letter or digit")
    name = body.string("name", max_length=120)
    currency = body.currency()
    amount_minor = body.amount("amount", currency)
    interval = body.string("interval", max_length=8)
    if interval not in {i.value for i in Interval}:
        raise invalid("interval", "interval must be 'month' or 'year'")
    trial_days = body.integer("trial_days", default=0, low=0, high=365)
    return PlanInput(code, name, amount_minor, currency, Interval(interval), trial_days, _limits(data.get("limits")))


def _limits(value: Any) -> dict[str, Any]:
    """Handed to the operator's product as they are: a flat object of whole numbers, booleans, strings or null."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("limits", 'limits must be an object such as {"seats": 5}')
    if len(value) > 50:
        raise invalid("limits", "limits may hold at most 50 keys")
    for key, item in value.items():
        if not key or len(key) > 64:
            raise invalid("limits", "limit names must be 1 to 64 characters")
        if isinstance(item, float) or not (item is None or isinstance(item, int | str | bool)):
            raise invalid(f"limits.{key}", f"limits.{key} must be a whole number, a boolean, a string or null")
        if isinstance(item, str) and len(item) > 200:
            raise invalid(f"limits.{key}", f"limits.{key} must be at most 200 characters")
    return dict(value)


def subscription_input(data: Any) -> SubscriptionInput:
    body = Body(data, {"customer", "plan"})
    return SubscriptionInput(body.string("customer", max_length=120), body.string("plan", max_length=64))


def plan_change_input(data: Any) -> str:
    return Body(data, {"plan"}).string("plan", max_length=64)


def invoice_input(data: Any) -> InvoiceInput:
    body = Body(data, {"customer", "currency", "lines", "memo", "due_days"})
    customer = body.string("customer", max_length=120)
    currency = body.currency()
    raw_lines = data.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise invalid("lines", "lines must be a non-empty list of {description, amount}")
    if len(raw_lines) > MAX_LINES:
        raise invalid("lines", f"an invoice holds at most {MAX_LINES} lines")
    lines = []
    for index, raw in enumerate(raw_lines):
        line = Body(raw, {"description", "amount", "quantity"}, prefix=f"lines[{index}].")
        lines.append(
            LineData(
                line.string("description", max_length=500),
                line.amount("amount", currency),
                line.integer("quantity", default=1, low=1, high=100_000),
            )
        )
    if sum(line.amount_minor * line.quantity for line in lines) == 0:
        raise invalid("lines", "an invoice must ask for more than zero")
    memo = body.string("memo", required=False, max_length=2000)
    due_days = body.integer("due_days", default=None, low=0, high=365)
    return InvoiceInput(customer, currency, tuple(lines), memo, due_days)


def payment_input(data: Any, now: datetime | None = None) -> PaymentInput:
    body = Body(data, {"method", "amount", "reference", "note", "received_at", "received_amount", "received_currency"})
    method = body.string("method", max_length=20)
    if method not in PAYMENT_METHODS:
        raise invalid("method", f"method must be one of {', '.join(PAYMENT_METHODS)}")
    amount = data.get("amount")
    if amount is None:
        raise invalid("amount", "amount is required")
    _check_amount_text("amount", amount)
    reference = body.string("reference", max_length=200)
    note = body.string("note", required=False, max_length=2000)
    received_at = _timestamp(body.string("received_at", required=False, max_length=40), "received_at")
    if received_at is not None and received_at > (now or utcnow()) + _FUTURE_SKEW:
        raise invalid("received_at", "received_at must not be in the future")
    received_currency = body.string("received_currency", required=False, max_length=5)
    received_amount = data.get("received_amount")
    if received_amount is not None:
        _check_amount_text("received_amount", received_amount)
    if (received_amount is None) != (received_currency is None):
        field = "received_currency" if received_currency is None else "received_amount"
        raise invalid(field, "received_amount and received_currency go together (a payment in another currency)")
    return PaymentInput(method, amount, reference, note, received_at, received_amount, received_currency)


def _timestamp(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise invalid(field, f"{field} must be an ISO 8601 timestamp such as 2026-11-25T14:30:00Z") from None
    if parsed.tzinfo is None:
        raise invalid(field, f"{field} must carry a timezone (Z or +hh:mm)")
    return parsed


def page_input(args) -> Page:  # noqa: ANN001 - werkzeug MultiDict
    return Page(
        _query_int(args, "limit", DEFAULT_PAGE, 1, MAX_PAGE),
        _query_int(args, "after", None, 0, 2**63 - 1),
    )


def _query_int(args, key: str, default: int | None, low: int, high: int) -> int | None:  # noqa: ANN001
    raw = args.get(key)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise invalid(key, f"{key} must be a whole number between {low} and {high}")
    return int(raw)


def status_filter(args, enum_cls: type[InvoiceStatus] | type[SubscriptionStatus]):  # noqa: ANN001, ANN201
    raw = args.get("status")
    if raw is None or raw == "":
        return None
    try:
        return enum_cls(raw)
    except ValueError:
        raise invalid("status", f"status must be one of {', '.join(s.value for s in enum_cls)}") from None
