"""The daily backup job's body: back up the app's own database into BACKUP_DIR and apply the retention."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from app.db_types import utcnow
from app.ops.backups import BackupReport, run_daily_backup
from app.ops.config import backup_dir
from app.settings.service import get_setting


def run_backups(now: datetime | None = None) -> BackupReport:
    from app.extensions import db

    retention = int(get_setting("ops.backup_retention_days"))
    db.session.rollback()  # pg_dump takes its own snapshot; hold nothing open meanwhile
    return run_daily_backup(current_app.config["SQLALCHEMY_DATABASE_URI"], backup_dir(), now or utcnow(), retention)
