"""Writing thousands of rows in the caller's transaction: COPY on PostgreSQL, executemany on SQLite.

For jobs whose volume makes per-row ORM flushes the cost (renewals). Values go through each column's own type
(UTC timestamps, string enums, JSON), so rows read back exactly as ORM-written ones. Measured on 1,000 audit
rows: binary COPY ~9 ms, text COPY ~15 ms, executemany ~35 ms, executemany with RETURNING ~70 ms.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.extensions import db


def insert_rows(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """All rows must carry the same keys; columns left out take their server defaults (on SQLite, their
    Python defaults too), so give every column the ORM would fill."""
    if not rows:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        _copy(table, rows)
    else:
        db.session.execute(sa.insert(table), rows)


def insert_rows_returning_ids(table: sa.Table, rows: list[dict[str, Any]]) -> list[int]:
    """Inserts and returns the new ids in the order of `rows`."""
    if not rows:
        return []
    if db.session.get_bind().dialect.name == "postgresql":
        # Ids drawn from the table's sequence in one query, then one COPY: no RETURNING round trip per row.
        ids = list(
            db.session.scalars(
                sa.text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
                {"table": table.name, "n": len(rows)},
            )
        )
        _copy(table, [{**row, "id": row_id} for row, row_id in zip(rows, ids, strict=True)])
        return ids
    result = db.session.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
    return list(result.scalars())


def _copy(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    import psycopg

    dialect = db.session.get_bind().dialect
    names = list(rows[0])
    process = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    columns = ", ".join(f'"{name}"' for name in names)
    pg_types = _pg_types(table.name)
    cursor = db.session.connection().connection.driver_connection.cursor()
    try:
        # Binary: the server does not parse text, psycopg dumps in C; about 40% faster than text COPY.
        with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN (FORMAT BINARY)') as copy:
            copy.set_types([pg_types[name] for name in names])
            for row in rows:
                copy.write_row([row[n] if p is None else p(row[n]) for n, p in zip(names, process, strict=True)])
    except psycopg.IntegrityError as exc:
        # The same exception an ORM insert raises, so callers handle one kind (a savepoint retry, say).
        raise IntegrityError(f"COPY {table.name}", None, exc) from exc
    finally:
        cursor.close()


_PG_TYPES: dict[str, dict[str, str]] = {}


def _pg_types(table_name: str) -> dict[str, str]:
    """Column -> PostgreSQL type name ("int8", "timestamptz", "json"...), which binary COPY needs; read once."""
    if table_name not in _PG_TYPES:
        rows = db.session.execute(
            sa.text(
                "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                "WHERE a.attrelid = CAST(:table AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"
            ),
            {"table": table_name},
        )
        _PG_TYPES[table_name] = {name: type_name for name, type_name in rows}
    return _PG_TYPES[table_name]
