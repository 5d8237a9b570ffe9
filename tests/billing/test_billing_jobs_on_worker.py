"""The billing jobs run on a real `rq` worker process, through workers.jobs, each run recorded with its summary."""

from datetime import timedelta

from sqlalchemy import select

from app.automation.models import JobRun, RunOutcome
from app.billing.models import Invoice, InvoiceStatus, SubscriptionStatus
from app.db_types import utcnow
from app.ledger.service import check_books
from app.queues import get_queue
from tests.factories import make_plan, make_subscription

BILLING_JOBS = ("subscription_renewals", "trial_cleanup", "dunning", "invoice_auto_send")


def test_the_billing_jobs_run_on_a_worker_and_record_what_they_did(db, run_worker):
    # The worker runs on the real clock: a period that ended nine days ago, a trial that ended yesterday.
    sub = make_subscription(now=utcnow() - timedelta(days=40))
    trial = make_subscription(plan=make_plan(trial_days=14), now=utcnow() - timedelta(days=15))
    assert sub.current_period_end < utcnow()
    for name in BILLING_JOBS:
        get_queue().enqueue(f"workers.jobs.{name}", job_timeout=300, description=name)

    result = run_worker()

    assert result.returncode == 0, result.stderr
    db.session.rollback()  # end this session's read snapshot (SQLite WAL keeps one) to see the worker's commits
    runs = {run.job_name: run for run in db.session.scalars(select(JobRun))}
    assert set(runs) == set(BILLING_JOBS)
    for run in runs.values():
        assert run.outcome == RunOutcome.SUCCEEDED, run.error
        assert run.rq_job_id and run.finished_at >= run.started_at
    assert runs["subscription_renewals"].summary | {"due": 1, "invoices_created": 1, "past_due": 1} == (
        runs["subscription_renewals"].summary
    )
    assert runs["trial_cleanup"].summary == {"trials_ended": 1, "invoices_voided": 0}
    assert runs["invoice_auto_send"].summary["invoices_sent"] == 1
    db.session.refresh(sub)
    db.session.refresh(trial)
    assert sub.status == SubscriptionStatus.PAST_DUE and trial.status == SubscriptionStatus.CANCELED
    renewal = db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id).order_by(Invoice.id.desc()))
    assert renewal.status == InvoiceStatus.OPEN and renewal.sent_at is not None
    assert check_books() == []
