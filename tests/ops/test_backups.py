"""Backups: `flask backup create`, a wipe, `flask backup restore`, and every row comes back; retention; the job."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from app.automation.models import JobRun, RunOutcome
from app.db_types import utcnow
from app.ops.backups import create_backup, list_backups, prune_backups
from tests.factories import make_invoice


def _snapshot(engine, metadata) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    result = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            result[table.name] = [tuple(row) for row in conn.execute(select(table).order_by(*order))]
    return result


def _wipe(engine, metadata) -> None:
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def business(db):
    """Some of everything: customers, invoices with lines, audit entries, a job run, an incident."""
    from app.ops.incidents import open_incident
    from app.ops.models import CheckStatus
    from app.ops.watchdog import count_component_run

    for amount in (4900, 12_345, 1):
        make_invoice(amount_minor=amount)
    db.session.add(JobRun(job_name="dunning", outcome=RunOutcome.SUCCEEDED, summary={"retried": 2}))
    open_incident("Slow emails", "minor", ["email"], "Delayed by 10 minutes.", actor="test")
    count_component_run("api", utcnow().date(), CheckStatus.OK, runs=719)
    db.session.commit()


@pytest.fixture
def scratch_url(app, tmp_path):
    """An empty database to restore into: a separate PostgreSQL database, or a new SQLite file."""
    own = app.config["SQLALCHEMY_DATABASE_URI"]
    if not own.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    name = f"advancia_scratch_{secrets.token_hex(4)}"
    admin = sa.create_engine(own, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(own).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_backup_wipe_restore_gives_back_every_row(app, db, business, scratch_url, tmp_path):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["backup", "create", "--dir", str(tmp_path / "backups")])
    assert made.exit_code == 0, made.output
    backup = list_backups(tmp_path / "backups")[0]
    assert f"backup written: {backup.path}" in made.output and backup.size_bytes > 0
    assert backup.path.stat().st_mode & 0o777 == 0o600
    before = _snapshot(db.engine, db.metadata)
    assert len(before["invoices"]) == 3 and len(before["incidents"]) == 1 and before["audit_entries"]

    target = sa.create_engine(scratch_url)
    try:
        restored = runner.invoke(args=["backup", "restore", str(backup.path), "--to", scratch_url, "--yes"])
        assert restored.exit_code == 0, restored.output
        assert _snapshot(target, db.metadata) == before
        # Wipe it and write something else, then restore over it: the backup wins, row for row.
        _wipe(target, db.metadata)
        with target.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO settings (key, value, updated_at) VALUES ('ops.status_note', '\"x\"', "
                    "CURRENT_TIMESTAMP)"
                )
            )
        target.dispose()
        again = runner.invoke(args=["backup", "restore", str(backup.path), "--to", scratch_url, "--yes"])
        assert again.exit_code == 0, again.output
        assert _snapshot(target, db.metadata) == before
    finally:
        target.dispose()
    assert _snapshot(db.engine, db.metadata) == before  # the backup never touched the source


def test_on_sqlite_restore_replaces_the_apps_own_database(app, db, business, tmp_path):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL the restore goes to a scratch database (see the test above)")
    backup = create_backup(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, utcnow())
    before = _snapshot(db.engine, db.metadata)
    db.session.remove()
    _wipe(db.engine, db.metadata)
    assert _snapshot(db.engine, db.metadata)["invoices"] == []
    refused = app.test_cli_runner().invoke(args=["backup", "restore", str(backup.path)], input="n\n")
    assert refused.exit_code != 0 and _snapshot(db.engine, db.metadata)["invoices"] == []
    result = app.test_cli_runner().invoke(args=["backup", "restore", str(backup.path)], input="y\n")
    assert result.exit_code == 0, result.output
    after = _snapshot(db.engine, db.metadata)
    assert {k: v for k, v in after.items() if k != "audit_entries"} == {
        k: v for k, v in before.items() if k != "audit_entries"
    }
    assert after["audit_entries"][: len(before["audit_entries"])] == before["audit_entries"]
    assert len(after["audit_entries"]) == len(before["audit_entries"]) + 1  # "backup.restored"


def test_restore_refuses_a_file_that_is_not_our_backup_and_changes_nothing(app, db, business, tmp_path):
    stray = tmp_path / "notes.sql"
    stray.write_text("DROP TABLE invoices;")
    before = _snapshot(db.engine, db.metadata)
    result = app.test_cli_runner().invoke(args=["backup", "restore", str(stray), "--yes"])
    assert result.exit_code != 0 and "is not an Advancia backup" in result.output
    other_kind = "sqlite3" if db.engine.dialect.name == "postgresql" else "pgdump"
    wrong = tmp_path / f"advancia-20261101T040000Z.{other_kind}"
    wrong.write_bytes(b"not really")
    result = app.test_cli_runner().invoke(args=["backup", "restore", str(wrong), "--yes"])
    assert result.exit_code != 0 and "backup; this database needs a" in result.output
    assert _snapshot(db.engine, db.metadata) == before


def test_retention_deletes_backups_past_30_days_but_never_the_newest(app, tmp_path):
    now = utcnow()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    for days in (45, 31, 29, 1):
        create_backup(url, tmp_path, now - timedelta(days=days))
    (tmp_path / "unrelated.txt").write_text("keep me")
    removed = prune_backups(tmp_path, now, 30)
    assert sorted(round((now - b.created_at).days) for b in removed) == [31, 45]
    assert [round((now - b.created_at).days) for b in list_backups(tmp_path)] == [1, 29]
    assert (tmp_path / "unrelated.txt").exists()
    lonely = tmp_path / "lonely"
    create_backup(url, lonely, now - timedelta(days=90))
    assert prune_backups(lonely, now, 30) == [] and len(list_backups(lonely)) == 1


def test_the_backups_job_runs_on_a_worker_and_records_the_file(app, db, run_worker, tmp_path, monkeypatch):
    from workers.schedule import BY_NAME

    monkeypatch.setenv("BACKUP_DIR", str(tmp_path))
    from app.queues import get_queue

    get_queue().enqueue(BY_NAME["backups"].func)
    result = run_worker()
    assert result.returncode == 0, result.stderr
    run = db.session.scalar(select(JobRun).where(JobRun.job_name == "backups"))
    assert run.outcome == RunOutcome.SUCCEEDED, run.error
    backups = list_backups(Path(tmp_path))
    assert [b.name for b in backups] == [run.summary["file"]] and run.summary["bytes"] == backups[0].size_bytes
    assert run.summary["pruned"] == 0
