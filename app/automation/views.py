"""The automation screen: every scheduled job, its cadence, next and last runs, and a run-now button."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for

from app.auth.guards import admin_required
from app.automation import service
from app.extensions import htmx

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
    )


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
