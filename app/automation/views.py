"""The automation screen: every scheduled job, its cadence, next and last runs, and a run-now button."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for

from app.audit.service import record_audit
from app.auth.guards import admin_required
from app.automation import service
from app.extensions import db, htmx

bp = Blueprint("automation", __name__, url_prefix="/automation")


@bp.route("/")
@admin_required
def index():
    from workers.schedule import SCHEDULE
    from workers.scheduler import next_runs, scheduler_for

    try:
        upcoming = next_runs(scheduler_for(current_app.config["REDIS_URL"]))
        redis_error = None
    except Exception as exc:  # Redis down must not take the page down
        upcoming, redis_error = {}, f"Redis is not answering ({exc.__class__.__name__}); next runs unknown."
    return render_template(
        "automation/index.html",
        schedule=SCHEDULE,
        upcoming=upcoming,
        last_runs=service.last_run_by_job(),
        recent=service.recent_runs(limit=30),
        redis_error=redis_error,
        backup=_backup_state(),
        **_rq_state(),
    )


def _rq_state() -> dict:
    """Queues, workers and failed jobs from rq; empty with a reason when Redis does not answer."""
    from app.automation.queues import failed_jobs, queue_overview

    url = current_app.config["REDIS_URL"]
    try:
        return {"rq": queue_overview(url), "failed": failed_jobs(url), "rq_error": None}
    except Exception as exc:  # Redis down must not take the page down
        return {"rq": None, "failed": [], "rq_error": f"Redis is not answering ({exc.__class__.__name__})."}


def _backup_state() -> dict:
    from app.db_types import utcnow
    from app.ops.backups import latest_backup
    from app.settings.service import get_setting

    latest = latest_backup()
    if latest is None:
        return {"latest": None, "age_hours": None, "stale": True}
    age = (utcnow() - latest.created_at).total_seconds() / 3600
    return {"latest": latest, "age_hours": age, "stale": age > int(get_setting("ops.backup_max_age_hours"))}


@bp.route("/rq")
@admin_required
def rq_partial():
    return render_template("automation/partials/_rq.html", **_rq_state())


@bp.route("/failed/<job_id>/requeue", methods=["POST"])
@admin_required
def requeue_failed(job_id: str):
    from app.automation.queues import FailedJobNotFound, requeue_failed_job

    try:
        requeue_failed_job(current_app.config["REDIS_URL"], job_id)
        record_audit("job.requeued", object_type="rq_job", object_id=job_id)
        db.session.commit()
        message, category, code = f"Job {job_id} is back on its queue; a worker will run it again.", "success", 200
    except FailedJobNotFound:
        message, category, code = f"Job {job_id} is not in the failed jobs (already retried?).", "error", 404
    if htmx:
        return render_template("ops/partials/_message.html", message=message, category=category), code
    flash(message, category)
    return redirect(url_for("automation.index"))


@bp.route("/runs")
@admin_required
def runs():
    return render_template("automation/partials/_runs.html", recent=service.recent_runs(limit=30))


@bp.route("/<name>/run", methods=["POST"])
@admin_required
def run_now(name: str):
    from workers.schedule import BY_NAME

    job = BY_NAME.get(name) or abort(404)
    from app.queues import get_queue

    get_queue().enqueue(job.func, job_timeout=job.timeout, result_ttl=24 * 3600, description=job.name)
    message = f"{job.name} queued; its run appears below when a worker picks it up."
    if htmx:
        return render_template("automation/partials/_queued.html", message=message)
    flash(message, "success")
    return redirect(url_for("automation.index"))
