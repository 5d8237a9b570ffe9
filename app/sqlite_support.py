"""SQLite as the embedded default: real SAVEPOINTs, WAL so readers and the writer do not block each other."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session


def configure_sqlite(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):  # noqa: ANN001
        # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy's documented recipe takes over.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # noqa: ANN001
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


#: execution option asking SQLite for BEGIN IMMEDIATE (see begin_write)
WRITE_OPTION = "advancia_sqlite_write"


def begin_write(session: Session | scoped_session) -> None:
    """Start the session's next transaction as a writer. On SQLite it takes the write lock now, waiting for it up to
    busy_timeout: a deferred transaction that reads first fails at once ("database is locked") when another process
    commits before it writes, even inside one UPDATE. Elsewhere (PostgreSQL) this changes nothing.

    Call it with no transaction open (after a commit or rollback), before the transaction's first statement.
    """
    if isinstance(session, scoped_session):
        session = session()
    if session.in_transaction():
        raise RuntimeError("begin_write() must start the transaction; commit or roll back first")
    session.connection(execution_options={WRITE_OPTION: True})
