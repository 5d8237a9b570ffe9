"""Column types shared by every module: timezone-aware UTC timestamps, string enums, exchange rates."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import DateTime, Enum, Numeric
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


class BaseUnits(TypeDecorator):
    """Integer amounts too large for 64 bits (wei: 10**18 per ether), stored as NUMERIC(78, 0), read as int."""

    impl = Numeric(78, 0)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("base-unit amounts are integers")
        if dialect.name == "sqlite" and -(2**63) <= value < 2**63:
            return value  # a Decimal would reach SQLite as a float and lose digits; a 64-bit int is exact
        return Decimal(value)

    def bind_processor(self, dialect):  # noqa: ANN001
        if dialect.name == "sqlite":  # pass the int through untouched (Numeric's own processor makes it a float)
            return lambda value: self.process_bind_param(value, dialect)
        return super().bind_processor(dialect)

    def result_processor(self, dialect, coltype):  # noqa: ANN001
        # SQLite's NUMERIC column keeps 64-bit integers exactly, but SQLAlchemy's Numeric reads them through a float.
        if dialect.name == "sqlite":
            return lambda value: None if value is None else int(value)
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value, dialect):  # noqa: ANN001
        return None if value is None else int(value)


#: exchange rates: Decimal only, 28 digits with 12 after the point (1 BTC in USD, 1 USD in wei per cent...)
RATE = Numeric(38, 18, asdecimal=True)
