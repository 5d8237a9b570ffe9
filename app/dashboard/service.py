"""Figures for the dashboard, gathered in a few queries."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from app.automation.models import JobRun, RunOutcome
from app.extensions import db


@dataclass(frozen=True)
class Overview:
    job_runs_24h: int
    job_failures_24h: int


def overview() -> Overview:
    from datetime import timedelta

    from app.db_types import utcnow

    since = utcnow() - timedelta(hours=24)
    counts = dict(
        db.session.execute(
            select(JobRun.outcome, func.count()).where(JobRun.started_at >= since).group_by(JobRun.outcome)
        ).all()
    )
    return Overview(job_runs_24h=sum(counts.values()), job_failures_24h=counts.get(RunOutcome.FAILED, 0))
