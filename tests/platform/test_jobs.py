"""The schedule: registered once, run by a real rq worker process through Redis, every run recorded."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.automation.models import JobRun, RunOutcome
from app.automation.service import run_recorded
from workers.schedule import SCHEDULE, ScheduledJob
from workers.scheduler import register_schedule, scheduler_for

EXPECTED_CADENCES = {
    "crypto_monitor": (30, None),
    "outbox_delivery": (30, None),
    "health_watchdog": (120, None),
    "bank_sync": (None, "0 * * * *"),
    "subscription_renewals": (None, "0 2 * * *"),
    "trial_cleanup": (None, "0 3 * * *"),
    "backups": (None, "0 4 * * *"),
    "revenue_report": (None, "0 8 * * *"),
    "dunning": (None, "0 9 * * *"),
    "invoice_auto_send": (None, "0 10 * * *"),
    "accounting_sync": (None, "0 23 * * *"),
    "churn_analysis": (None, "0 6 * * 1"),
    "webhook_delivery": (30, None),
    "stripe_sweep": (None, "30 * * * *"),
}


def test_schedule_holds_every_job_of_the_product_with_its_cadence():
    assert {job.name: (job.interval, job.cron) for job in SCHEDULE} == EXPECTED_CADENCES


def test_registering_twice_never_duplicates_a_schedule(app):
    scheduler = scheduler_for(app.config["REDIS_URL"])
    first = register_schedule(scheduler)
    second = register_schedule(scheduler)
    assert len(first["added"]) == len(SCHEDULE)
    assert second == {"added": [], "removed": []}
    assert len(list(scheduler.get_jobs())) == len(SCHEDULE)


def test_changing_a_definition_replaces_its_schedule(app):
    scheduler = scheduler_for(app.config["REDIS_URL"])
    register_schedule(scheduler)
    changed = tuple(
        ScheduledJob(j.name, j.func, interval=60, timeout=j.timeout) if j.name == "crypto_monitor" else j
        for j in SCHEDULE
    )
    result = register_schedule(scheduler, changed)
    assert len(result["added"]) == 1 and len(result["removed"]) == 1
    jobs = list(scheduler.get_jobs())
    assert len(jobs) == len(SCHEDULE)
    assert [j.meta.get("interval") for j in jobs if j.description == "crypto_monitor"] == [60]


def test_scheduled_jobs_run_on_a_real_worker_and_record_their_runs(app, db, run_worker):
    scheduler = scheduler_for(app.config["REDIS_URL"])
    register_schedule(scheduler)
    # Interval jobs are due at once; the clock jobs wait for their hour.
    enqueued_at = datetime.now(UTC).replace(tzinfo=None)
    scheduler.enqueue_jobs()
    result = run_worker()
    assert result.returncode == 0, result.stderr
    runs = db.session.scalars(select(JobRun).order_by(JobRun.job_name)).all()
    assert [r.job_name for r in runs] == ["crypto_monitor", "health_watchdog", "outbox_delivery", "webhook_delivery"]
    for run in runs:
        assert run.rq_job_id and run.finished_at >= run.started_at and run.duration_ms >= 0
    assert runs[0].outcome == RunOutcome.NOOP and runs[0].summary["reason"].startswith("not built yet")
    # The watchdog is built: it ran its checks on the worker (tests/ops/ prove what they find).
    assert runs[1].outcome == RunOutcome.SUCCEEDED and runs[1].summary["checks"] >= 10
    # Built: with nothing due they succeed having sent nothing.
    assert (runs[2].outcome, runs[2].summary) == (RunOutcome.SUCCEEDED, {"sent": 0, "accounting_waiting": 0})
    assert runs[3].outcome == RunOutcome.SUCCEEDED and runs[3].summary == {"delivered": 0, "retrying": 0, "failed": 0}
    # They stay scheduled for their next run, not removed after running once.
    # (Measured from the enqueue, not from now: how long the worker took does not matter.)
    next_times = dict((j.description, t) for j, t in scheduler.get_jobs(with_times=True))
    assert next_times["crypto_monitor"] >= enqueued_at + timedelta(seconds=29)


def test_run_now_from_the_automation_screen_runs_on_the_worker(operator_client, db, run_worker):
    from tests.conftest import csrf_from

    page = operator_client.get("/automation/").get_data(as_text=True)
    assert "subscription_renewals" in page and "cron 0 2 * * * (UTC)" in page
    response = operator_client.post(
        "/automation/trial_cleanup/run", headers={"HX-Request": "true", "X-CSRFToken": csrf_from(page)}
    )
    assert response.status_code == 200 and "queued" in response.get_data(as_text=True)
    assert run_worker().returncode == 0
    runs = operator_client.get("/automation/runs").get_data(as_text=True)
    assert "trial_cleanup" in runs and "succeeded" in runs and "trials_ended: 0" in runs


def test_a_failing_job_is_recorded_with_its_error_and_still_raises(app, db):
    def body():
        raise RuntimeError("gateway unreachable")

    with pytest.raises(RuntimeError):
        run_recorded("bank_sync", body)
    run = db.session.scalar(select(JobRun))
    assert run.outcome == RunOutcome.FAILED
    assert "gateway unreachable" in run.error and run.finished_at is not None


def test_a_job_that_reports_work_is_recorded_as_succeeded(app, db):
    run = run_recorded("dunning", lambda: {"retried": 3})
    assert run.outcome == RunOutcome.SUCCEEDED and run.summary == {"retried": 3}
