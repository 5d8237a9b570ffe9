"""Column types shared by every module: timezone-aware UTC timestamps, string enums, exchange rates."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal

from sqlalchemy import DateTime, Enum, Numeric, Text
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores UTC; always returns an aware datetime (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def str_enum(enum_cls: type[enum.Enum], length: int = 24) -> Enum:
    """A portable string column holding the enum's values (no native PostgreSQL enum to migrate)."""
    return Enum(
        enum_cls,
        native_enum=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class _ExactNumber(TypeDecorator):
    """NUMERIC on PostgreSQL; on SQLite the canonical decimal string in a TEXT column.

    SQLite has no exact decimal type: SQLAlchemy's Numeric goes through a float, and a NUMERIC-affinity column turns
    any numeric text beyond 64-bit integers into a REAL, so only TEXT keeps every digit. The canonical form (no
    exponent, fixed scale) keeps `=`, and the CHECKs' `>= 0` (a text comparison there: '-' sorts before '0'),
    meaningful; nothing sums or orders these columns in SQL.
    """

    impl = Numeric
    cache_ok = True
    #: the PostgreSQL column type; the migrations write it with a TEXT variant for SQLite
    numeric: Numeric

    def load_dialect_impl(self, dialect):  # noqa: ANN001
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(self.numeric)

    def canonical(self, value: Decimal) -> str:
        raise NotImplementedError

    def from_stored(self, value: Decimal):  # noqa: ANN201
        raise NotImplementedError

    def process_bind_param(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        text = self.canonical(value)
        return text if dialect.name == "sqlite" else Decimal(text)

    def process_result_value(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        # a float only in rows written before the TEXT columns (migration 2fe6733fa327 rewrote those)
        return self.from_stored(Decimal(repr(value) if isinstance(value, float) else value))


class BaseUnits(_ExactNumber):
    """Integer amounts too large for 64 bits (wei: 10**18 per ether): NUMERIC(78, 0), TEXT on SQLite; read as int."""

    numeric = Numeric(78, 0)
    cache_ok = True

    def canonical(self, value: int) -> str:  # type: ignore[override]
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("base-unit amounts are integers")
        if abs(value) >= 10**78:
            raise ValueError("base-unit amount beyond NUMERIC(78, 0)")
        return str(value)

    def from_stored(self, value: Decimal) -> int:
        return int(value)


class Rate(_ExactNumber):
    """Exchange rates: Decimal only, NUMERIC(38, 18) (20 digits before the point, 18 after), TEXT on SQLite.

    Read back with exactly 18 places on both databases (PostgreSQL's NUMERIC keeps its scale), so the same rate
    prints the same everywhere.
    """

    numeric = Numeric(38, 18, asdecimal=True)
    cache_ok = True
    _SCALE = Decimal(1).scaleb(-18)
    #: room for all 38 digits (the default context keeps 28 and would refuse to quantize a large rate)
    _CONTEXT = Context(prec=60)

    def canonical(self, value: Decimal) -> str:  # type: ignore[override]
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError("exchange rates are finite Decimals")
        # PostgreSQL rounds extra places half away from zero; do the same so both databases hold the same rate
        scaled = value.quantize(self._SCALE, rounding=ROUND_HALF_UP, context=self._CONTEXT)
        if scaled.adjusted() >= 20:
            raise ValueError("exchange rate beyond NUMERIC(38, 18)")
        return format(scaled, "f")

    def from_stored(self, value: Decimal) -> Decimal:
        return value.quantize(self._SCALE, context=self._CONTEXT)


#: exchange rates (1 BTC in USD, 1 USD in wei per cent...)
RATE = Rate()
