from decimal import Decimal

import pytest

from app.money import Money, MoneyError, convert, format_money, parse_minor, to_decimal_string


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.34", "USD", 1234),
        ("12", "usd", 1200),
        ("0.5", "EUR", 50),
        ("1,234.56", "USD", 123456),
        ("1000", "JPY", 1000),
        ("0.00000001", "BTC", 1),
        ("1", "ETH", 10**18),
        ("49.000001", "USDC", 49000001),
        ("1.234", "KWD", 1234),
    ],
)
def test_parse_gives_integer_minor_units(text, currency, minor):
    assert parse_minor(text, currency) == minor


@pytest.mark.parametrize("text", ["12.345", "abc", "1e3", "", " ", "12.", ".5", "-1", "1,23.00", "NaN", "Infinity"])
def test_parse_refuses_what_is_not_an_amount(text):
    with pytest.raises(MoneyError):
        parse_minor(text, "USD")


def test_parse_refuses_floats_and_unknown_currencies():
    with pytest.raises(MoneyError, match="decimal string"):
        parse_minor(12.34, "USD")  # type: ignore[arg-type]
    with pytest.raises(MoneyError, match="unknown currency"):
        parse_minor("1.00", "XXX")


def test_decimal_string_round_trips_for_every_exponent():
    for currency, minor in (("USD", 4900), ("JPY", 4900), ("BTC", 123456789), ("USDC", 49_000_000), ("KWD", 1)):
        assert parse_minor(to_decimal_string(minor, currency), currency) == minor
    assert to_decimal_string(4900, "USD") == "49.00"
    assert to_decimal_string(5, "KWD") == "0.005"


def test_format_uses_symbol_and_grouping():
    assert format_money(123456789, "USD") == "$1,234,567.89"
    assert format_money(-500, "EUR") == "-€5.00"
    assert format_money(1500, "JPY") == "¥1,500"
    assert format_money(5, "CHF") == "0.05 CHF"


def test_convert_takes_decimal_rates_and_rounds_half_even():
    assert convert(10000, "USD", "EUR", Decimal("0.9215")) == 9215
    assert convert(1, "USD", "EUR", Decimal("0.5")) == 0  # 0.5 cent rounds to even
    assert convert(3, "USD", "EUR", Decimal("0.5")) == 2  # 1.5 cents rounds to even
    # 0.001 BTC at 67,890.12 USD/BTC = 67.89012 USD -> 6789 cents
    assert convert(100_000, "BTC", "USD", Decimal("67890.12")) == 6789
    with pytest.raises(MoneyError, match="Decimal"):
        convert(100, "USD", "EUR", 0.92)  # type: ignore[arg-type]


def test_money_refuses_mixing_currencies_and_floats():
    assert Money(100, "usd") + Money(250, "USD") == Money(350, "USD")
    with pytest.raises(MoneyError):
        Money(100, "USD") + Money(100, "EUR")
    with pytest.raises(MoneyError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    assert str(Money.parse("19.99", "USD")) == "$19.99"


def _eth_payment(invoice, reference: str, wei: int, rate: Decimal):
    from app.payments.models import Payment, PaymentStatus, Rail

    return Payment(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        rail=Rail.ETH,
        rail_payment_id=reference,
        status=PaymentStatus.SETTLED,
        amount_received_minor=wei,
        currency_received="ETH",
        amount_minor=4900,
        currency="USD",
        exchange_rate=rate,
    )


@pytest.mark.parametrize(
    ("wei", "rate"),
    [
        (20999130036041365, Decimal("0.000016384523917364")),  # a float would store ...364 and 1.6384523917363999e-05
        (10**24 + 7, Decimal("0.000000000000000001")),  # a million ether: beyond 64 bits; the smallest rate there is
        (1, Decimal("99999999999999999999.999999999999999999")),  # the largest rate NUMERIC(38, 18) holds
    ],
)
def test_wei_amounts_and_rates_survive_the_database_exactly(db, wei, rate):
    from sqlalchemy import select

    from app.payments.models import Payment
    from tests.factories import make_invoice

    db.session.add(_eth_payment(make_invoice(amount_minor=4900), "0xabc:0", wei, rate))
    db.session.commit()
    db.session.expire_all()
    stored = db.session.execute(select(Payment.amount_received_minor, Payment.exchange_rate)).one()
    assert stored.amount_received_minor == wei and isinstance(stored.amount_received_minor, int)
    assert stored.exchange_rate == rate
    assert stored.exchange_rate.as_tuple().exponent == -18  # both databases give the rate back with its 18 places
    # looking a payment up by its exact amount still works where the column is text (SQLite)
    assert db.session.scalar(select(Payment.rail_payment_id).where(Payment.amount_received_minor == wei)) == "0xabc:0"


def test_the_database_still_refuses_a_negative_amount_received(db):
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from tests.factories import make_invoice

    db.session.add(_eth_payment(make_invoice(amount_minor=4900), "0xabc:1", 5, Decimal(1)))
    db.session.commit()
    with pytest.raises(IntegrityError, match="amounts_not_negative"):
        db.session.execute(text("UPDATE payments SET amount_received_minor = -1"))
    db.session.rollback()


def test_rates_with_more_than_18_places_round_like_postgresql(db):
    from sqlalchemy import select

    from app.payments.models import Payment
    from tests.factories import make_invoice

    db.session.add(_eth_payment(make_invoice(amount_minor=4900), "0xabc:2", 5, Decimal("0.0000000000000000125")))
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalar(select(Payment.exchange_rate)) == Decimal("0.000000000000000013")
