"""`flask db upgrade` from empty builds exactly the schema the models declare, on SQLite and PostgreSQL."""

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db as database

ROOT = Path(__file__).resolve().parents[2]


def _differences(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        return compare_metadata(context, database.metadata)


def test_migrated_test_database_matches_the_models(app, db):
    # The suite's database (PostgreSQL under CI) was built by the migrations, not create_all().
    assert _differences(db.engine) == []


def test_flask_db_upgrade_from_empty_on_sqlite_matches_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    env = dict(os.environ, DATABASE_URL=url, ADVANCIA_INSTANCE_DIR=str(tmp_path))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    engine = sa.create_engine(url)
    try:
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_migrations_form_one_line_of_history():
    heads = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "db", "heads"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert heads.returncode == 0, heads.stderr
    assert len([line for line in heads.stdout.splitlines() if "(head)" in line]) == 1
