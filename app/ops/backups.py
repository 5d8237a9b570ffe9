"""Database backups to a directory: pg_dump (custom format) for PostgreSQL, SQLite's online-backup API for the
embedded default; 30-day retention that never deletes the newest file; restore of either kind.

A backup is written under a temporary name and renamed when complete, so a crash never leaves a half file that
looks like a backup. The file name carries its UTC time; that, not the file's mtime, is its age.
S3-compatible targets (BACKUP_URL=s3://...) are not built: boto3 is not a dependency; copy BACKUP_DIR off-site.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

PG_DUMP = os.environ.get("PG_DUMP", "pg_dump")
PG_RESTORE = os.environ.get("PG_RESTORE", "pg_restore")
_NAME = re.compile(r"^advancia-(\d{8}T\d{6}Z)\.(pgdump|sqlite3)$")
DUMP_TIMEOUT = 1800


class BackupError(RuntimeError):
    """pg_dump/pg_restore failed, or the file is not a backup of ours; the message says which and why."""


@dataclass(frozen=True)
class BackupFile:
    path: Path
    created_at: datetime
    size_bytes: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def kind(self) -> str:
        return self.path.suffix.lstrip(".")


def _kind_for(database_url: str) -> str:
    backend = make_url(database_url).get_backend_name()
    if backend == "postgresql":
        return "pgdump"
    if backend == "sqlite":
        return "sqlite3"
    raise BackupError(f"backups support PostgreSQL and SQLite, not {backend}")


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password (it goes in PGPASSWORD, so `ps` never shows it)."""
    url = make_url(database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _sqlite_path(database_url: str) -> str:
    path = make_url(database_url).database
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return path


def create_backup(database_url: str, directory: Path, now: datetime) -> BackupFile:
    kind = _kind_for(database_url)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"advancia-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.{kind}"
    partial = final.with_name(final.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if kind == "pgdump":
            uri, env = _libpq(database_url)
            result = subprocess.run(
                [PG_DUMP, "--format=custom", "--no-owner", "--no-privileges", f"--file={partial}", f"--dbname={uri}"],
                env=env,
                capture_output=True,
                text=True,
                timeout=DUMP_TIMEOUT,
            )
            if result.returncode != 0:
                raise BackupError(f"pg_dump failed ({result.returncode}): {result.stderr.strip()[:500]}")
        else:
            source = sqlite3.connect(_sqlite_path(database_url))
            target = sqlite3.connect(partial)
            try:
                source.backup(target)  # a consistent snapshot while other connections keep writing
            finally:
                target.close()
                source.close()
        partial.chmod(0o600)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return BackupFile(final, now.astimezone(UTC).replace(microsecond=0), final.stat().st_size)


def list_backups(directory: Path) -> list[BackupFile]:
    """Our backups in `directory`, newest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            created = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            found.append(BackupFile(path, created, path.stat().st_size))
    return sorted(found, key=lambda b: b.created_at, reverse=True)


def latest_backup(directory: Path | None = None) -> BackupFile | None:
    from app.ops.config import backup_dir

    backups = list_backups(directory or backup_dir())
    return backups[0] if backups else None


def prune_backups(directory: Path, now: datetime, retention_days: int) -> list[BackupFile]:
    """Deletes backups older than the retention; the newest one stays whatever its age."""
    backups = list_backups(directory)
    cutoff = now - timedelta(days=retention_days)
    removed = [b for b in backups[1:] if b.created_at < cutoff]
    for backup in removed:
        backup.path.unlink(missing_ok=True)
    return removed


def restore_backup(path: Path, database_url: str) -> None:
    """Replaces the database's tables with the backup's. The caller stops writers and disposes its pool first."""
    match = _NAME.match(path.name)
    if not path.is_file() or not match:
        raise BackupError(f"{path} is not an Advancia backup (advancia-YYYYmmddTHHMMSSZ.pgdump or .sqlite3)")
    kind = _kind_for(database_url)
    if match.group(2) != kind:
        raise BackupError(f"{path.name} is a .{match.group(2)} backup; this database needs a .{kind} one")
    if kind == "pgdump":
        uri, env = _libpq(database_url)
        result = subprocess.run(
            [
                PG_RESTORE,
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={uri}",
                str(path),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=DUMP_TIMEOUT,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_restore failed ({result.returncode}): {result.stderr.strip()[:500]}")
        return
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    target = sqlite3.connect(_sqlite_path(database_url), timeout=30)
    try:
        source.backup(target)  # page by page, in one step: readers see the old or the new database
    finally:
        target.close()
        source.close()


@dataclass(frozen=True)
class BackupReport:
    file: str
    size_bytes: int
    pruned: int

    def summary(self) -> dict:
        return {"file": self.file, "bytes": self.size_bytes, "pruned": self.pruned}


def run_daily_backup(database_url: str, directory: Path, now: datetime, retention_days: int) -> BackupReport:
    made = create_backup(database_url, directory, now)
    removed = prune_backups(directory, now, retention_days)
    return BackupReport(made.name, made.size_bytes, len(removed))
