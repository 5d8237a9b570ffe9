"""Recording job runs, and reading them back for the automation screen."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from time import perf_counter
from typing import Any

from sqlalchemy import func, select, update

from app.automation.models import JobRun, RunOutcome
from app.db_types import utcnow
from app.extensions import db
from app.sqlite_support import begin_write


def run_recorded(job_name: str, body: Callable[[], dict[str, Any] | None], *, rq_job_id: str | None = None) -> JobRun:
    """Runs `body` and records start, end, duration, outcome and error in their own transaction.

    The start is committed first so a run that kills its worker still shows as started.
    The body's own changes commit or roll back by themselves; a failure is re-raised so rq marks it failed.
    """
    run = JobRun(job_name=job_name, rq_job_id=rq_job_id, outcome=RunOutcome.RUNNING)
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    started = perf_counter()
    try:
        summary = body() or {}
    except Exception as exc:
        db.session.rollback()
        _finish(run_id, started, RunOutcome.FAILED, {}, "".join(traceback.format_exception(exc)))
        raise
    outcome = RunOutcome.NOOP if summary.get("noop") else RunOutcome.SUCCEEDED
    return _finish(run_id, started, outcome, summary, None)


def _finish(run_id: int, started: float, outcome: RunOutcome, summary: dict, error: str | None) -> JobRun:
    # End whatever the body left open, then take the write lock before anything (see begin_write): with two
    # workers delivering mail, SQLite otherwise failed this update with "database is locked".
    db.session.commit()
    begin_write(db.session)
    db.session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(
            finished_at=utcnow(),
            duration_ms=int((perf_counter() - started) * 1000),
            outcome=outcome,
            summary=summary,
            error=error,
        ),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
    return db.session.get(JobRun, run_id, populate_existing=True)


def recent_runs(job_name: str | None = None, limit: int = 20) -> list[JobRun]:
    query = select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(limit)
    if job_name:
        query = query.where(JobRun.job_name == job_name)
    return list(db.session.scalars(query))


def last_run_by_job() -> dict[str, JobRun]:
    latest = select(JobRun.job_name, func.max(JobRun.id).label("id")).group_by(JobRun.job_name).subquery()
    runs = db.session.scalars(select(JobRun).join(latest, JobRun.id == latest.c.id))
    return {run.job_name: run for run in runs}
