"""The automation screen's operations parts: queues and workers, failed jobs with tracebacks and retry, backups."""

from __future__ import annotations

from datetime import timedelta

from rq.registry import FailedJobRegistry
from sqlalchemy import select

from app.db_types import utcnow
from app.queues import get_queue
from tests.conftest import csrf_from
from tests.ops.conftest import free_port


def test_a_failed_job_shows_its_traceback_and_a_retry_runs_it_again(operator_client, run_worker, tmp_path, redis):
    job = get_queue().enqueue("tests.ops.sample_jobs.fails_the_first_time", str(tmp_path / "marker"))
    assert run_worker().returncode == 0
    assert job.id in FailedJobRegistry("default", connection=redis)
    page = operator_client.get("/automation/").get_data(as_text=True)
    assert "RuntimeError: gateway timed out on the first attempt" in page
    assert "Traceback (most recent call last)" in page and job.id in page
    token = csrf_from(page)
    retried = operator_client.post(
        f"/automation/failed/{job.id}/requeue", headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert retried.status_code == 200 and "back on its queue" in retried.get_data(as_text=True)
    from app.audit.models import AuditEntry
    from app.extensions import db

    db.session.rollback()
    assert db.session.scalar(select(AuditEntry.object_id).where(AuditEntry.action == "job.requeued")) == job.id
    assert run_worker().returncode == 0
    assert job.id not in FailedJobRegistry("default", connection=redis)
    job.refresh()
    assert job.get_status() == "finished" and job.return_value() == "second attempt worked"
    assert "No failed jobs" in operator_client.get("/automation/").get_data(as_text=True)
    again = operator_client.post(f"/automation/failed/{job.id}/requeue", headers={"X-CSRFToken": token})
    assert again.status_code == 302  # flashed "not in the failed jobs"
    assert "is not in the failed jobs" in operator_client.get("/automation/").get_data(as_text=True)


def test_queues_and_live_workers_with_their_heartbeats_are_listed(operator_client, rq_worker, redis):
    from rq import Worker

    name = Worker.all(connection=redis)[0].name
    get_queue().enqueue("tests.ops.sample_jobs.fails_the_first_time", "/nonexistent/x", at_front=False)
    partial = operator_client.get("/automation/rq").get_data(as_text=True)
    assert f"<code>{name}</code>" in partial
    assert "1 alive" in partial and "Queue default" in partial


def test_the_last_backup_and_its_age_are_shown(operator_client, app, monkeypatch, tmp_path):
    from app.ops.backups import create_backup

    monkeypatch.setitem(app.config, "BACKUP_DIR", str(tmp_path))
    assert "No backup yet" in operator_client.get("/automation/").get_data(as_text=True)
    made = create_backup(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, utcnow() - timedelta(hours=3))
    page = operator_client.get("/automation/").get_data(as_text=True)
    assert made.name in page and "3.0 h old" in page and "badge-ok" in page


def test_the_automation_screen_works_while_redis_is_down(operator_client, app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    page = operator_client.get("/automation/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Redis is not answering" in html and "Queues, workers and failed jobs are unknown" in html
