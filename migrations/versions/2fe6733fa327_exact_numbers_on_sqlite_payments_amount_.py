"""exact numbers on SQLite: payments amount_received_minor and exchange_rate as TEXT

SQLite has no exact decimal: its NUMERIC columns turn integers beyond 64 bits and every fraction into a float. On
SQLite the two columns become TEXT holding the canonical decimal string (app/db_types.py); PostgreSQL keeps NUMERIC
and this migration does nothing there.

Revision ID: 2fe6733fa327
Revises: 2481f7593d4b
Create Date: 2026-11-27 10:02:11.412907

"""
from decimal import Decimal

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2fe6733fa327'
down_revision = '2481f7593d4b'
branch_labels = None
depends_on = None

_RATE_SCALE = Decimal(1).scaleb(-18)


def _canonical_rate(value) -> str:
    number = Decimal(repr(value) if isinstance(value, float) else str(value))
    return format(number.quantize(_RATE_SCALE), "f")


def _canonical_units(value) -> str:
    return str(int(Decimal(repr(value) if isinstance(value, float) else str(value))))


def _sqlite_only() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _write_canonical_strings(conn) -> None:
    rows = conn.execute(sa.text("SELECT id, amount_received_minor, exchange_rate FROM payments")).all()
    for row_id, units, rate in rows:
        conn.execute(
            sa.text("UPDATE payments SET amount_received_minor = :units, exchange_rate = :rate WHERE id = :id"),
            {"units": _canonical_units(units), "rate": _canonical_rate(rate), "id": row_id},
        )


def upgrade():
    if not _sqlite_only():
        return
    # batch mode rebuilds the table; migrations/env.py turns SQLite's foreign keys off around it
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.alter_column('amount_received_minor', existing_type=sa.Numeric(precision=78, scale=0),
                              type_=sa.Text(), existing_nullable=False)
        batch_op.alter_column('exchange_rate', existing_type=sa.Numeric(precision=38, scale=18),
                              type_=sa.Text(), existing_nullable=False)
    # the copy made '1.0' or '6.66666666666667e-05' of the old floats: write the canonical strings
    _write_canonical_strings(op.get_bind())


def downgrade():
    if not _sqlite_only():
        return
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.alter_column('exchange_rate', existing_type=sa.Text(),
                              type_=sa.Numeric(precision=38, scale=18), existing_nullable=False)
        batch_op.alter_column('amount_received_minor', existing_type=sa.Text(),
                              type_=sa.Numeric(precision=78, scale=0), existing_nullable=False)
