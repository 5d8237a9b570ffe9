"""`flask backup create | list | restore FILE`: the backup commands (a blueprint with no routes, only a CLI group)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Blueprint, current_app
from sqlalchemy.engine import make_url

from app.config import normalise_database_url
from app.extensions import db

bp = Blueprint("ops_cli", __name__, cli_group="backup")


def _describe(url: str) -> str:
    parsed = make_url(url)
    return parsed.database if parsed.get_backend_name() == "sqlite" else parsed.render_as_string(hide_password=True)


@bp.cli.command("create")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), help="Default: BACKUP_DIR.")
def create(directory: Path | None) -> None:
    """Back up the database now (the same as the 04:00 job, without the retention)."""
    from app.db_types import utcnow
    from app.ops.backups import BackupError, create_backup
    from app.ops.config import backup_dir

    try:
        made = create_backup(current_app.config["SQLALCHEMY_DATABASE_URI"], directory or backup_dir(), utcnow())
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"backup written: {made.path} ({made.size_bytes} bytes)")


@bp.cli.command("list")
def list_command() -> None:
    """The backups in BACKUP_DIR, newest first."""
    from app.ops.backups import list_backups
    from app.ops.config import backup_dir

    backups = list_backups(backup_dir())
    for backup in backups:
        click.echo(f"{backup.created_at:%Y-%m-%d %H:%M:%S} UTC  {backup.size_bytes:>12}  {backup.path}")
    if not backups:
        click.echo(f"no backups in {backup_dir()}")


@bp.cli.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--to",
    "target_url",
    help="Restore into this database instead of the app's own, e.g. a scratch database to test a backup.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore(file: Path, target_url: str | None, yes: bool) -> None:
    """Replace the database's tables with a backup's. Stop the web, workers and scheduler first."""
    from app.audit.service import record_audit
    from app.ops.backups import BackupError, restore_backup

    own_url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    target = normalise_database_url(target_url) if target_url else own_url
    if not yes:
        click.confirm(f"Replace every table of {_describe(target)} with {file.name}?", abort=True)
    db.session.remove()
    db.engine.dispose()  # no pooled connection may hold a lock (PostgreSQL) or a stale page cache (SQLite)
    try:
        restore_backup(file, target)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    if target == own_url:
        record_audit("backup.restored", actor="cli", object_type="database", file=file.name)
        db.session.commit()
    click.echo(f"restored {file.name} into {_describe(target)}")
