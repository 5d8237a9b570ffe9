"""Delivery on real `rq worker` processes: racing workers send each message once; a commit wakes a worker."""

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from app.automation.models import JobRun
from app.extensions import db as database
from app.notifications.models import OutboxMessage, OutboxStatus
from app.queues import get_queue
from tests.factories import make_email, make_invoice, make_settled_payment

ROOT = Path(__file__).resolve().parents[2]


def start_worker(app) -> subprocess.Popen:
    rq = str(Path(sys.executable).parent / "rq")
    return subprocess.Popen(
        [rq, "worker", "--burst", "--url", app.config["REDIS_URL"], "default"],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_worker_processes_racing_deliver_each_message_once(app, db, smtp_server):
    recipients = {f"race{n}@example.com" for n in range(40)}
    for to in sorted(recipients):
        make_email(to=to)
    # The first DATA waits until both workers hold an SMTP session: they are certainly delivering at once.
    smtp_server.sink.hold_data_until_sessions = 2
    for _ in range(2):
        get_queue().enqueue("workers.jobs.outbox_delivery", job_timeout=600)

    workers = [start_worker(app) for _ in range(2)]
    for worker in workers:
        _, stderr = worker.communicate(timeout=180)
        assert worker.returncode == 0, stderr

    received = smtp_server.messages
    assert sorted(m["To"] for m in received) == sorted(recipients)
    assert len({m["Message-ID"] for m in received}) == 40
    database.session.expire_all()
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert {(r.status, r.attempts) for r in rows} == {(OutboxStatus.SENT, 1)}
    runs = db.session.scalars(select(JobRun).where(JobRun.job_name == "outbox_delivery")).all()
    assert [r.error for r in runs if r.error] == [], [(r.outcome, r.summary) for r in runs]
    assert sum(r.summary["sent"] for r in runs) == 40
    assert len([r for r in runs if r.summary["sent"] > 0]) == 2, [r.summary for r in runs]
    assert not any(r.summary.get("lease_lost") for r in runs)


def test_a_commit_that_queues_mail_wakes_a_worker_at_once(app, db, smtp_server, run_worker):
    invoice = make_invoice(amount_minor=4900)
    assert get_queue().jobs == []  # an invoice alone queues no mail
    make_settled_payment(invoice)
    assert [job.func_name for job in get_queue().jobs] == ["workers.jobs.outbox_delivery"]

    result = run_worker()

    assert result.returncode == 0, result.stderr
    [mail] = smtp_server.messages
    assert mail["Subject"] == f"Receipt for invoice {invoice.number}"
    assert next(mail.iter_attachments()).get_content().startswith(b"%PDF-")


def test_no_worker_is_woken_without_smtp_or_when_the_transaction_rolls_back(app, db, monkeypatch, smtp_server):
    from app.notifications.outbox import queue_email

    queue_email(to="a@example.com", subject="s", template="trial_ended", context={}, dedupe_key="rolled-back")
    db.session.rollback()
    db.session.commit()
    assert get_queue().jobs == []

    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    make_email()
    assert get_queue().jobs == []
