"""The operator's status screens: checks and components now, incidents, the status note, alert settings."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from app.audit.service import current_actor
from app.auth.guards import admin_required
from app.extensions import db, htmx
from app.ops import alerts, incidents
from app.ops.components import BY_KEY
from app.ops.config import external_endpoints, public_url, slack_webhook_url
from app.ops.forms import ActionForm, AlertSettingsForm, IncidentForm, IncidentUpdateForm, NoteForm
from app.ops.models import CheckResult
from app.ops.operator_settings import NoteError, post_status_note, save_settings
from app.ops.status import build_status, forget_cached_status
from app.ops.watchdog import CHECK_LABELS
from app.settings.service import get_setting

bp = Blueprint("ops", __name__, url_prefix="/ops")


def _latest_checks() -> tuple[object, list[CheckResult]]:
    latest = db.session.scalar(select(func.max(CheckResult.checked_at)))
    if latest is None:
        return None, []
    rows = db.session.scalars(select(CheckResult).where(CheckResult.checked_at == latest))
    order = list(CHECK_LABELS)
    return latest, sorted(rows, key=lambda r: (order.index(r.check) if r.check in order else len(order), r.check))


def _overview_page(note_form: NoteForm, status_code: int = 200):  # noqa: ANN202
    latest, results = _latest_checks()
    return render_template(
        "ops/overview.html",
        status=build_status(),
        checked_at=latest,
        results=results,
        open_incidents=[i for i in incidents.incident_list(limit=50) if i.is_open],
        note_form=note_form,
        action_form=ActionForm(),
    ), status_code


@bp.route("/")
@admin_required
def overview():
    return _overview_page(NoteForm(note=get_setting("ops.status_note")))


@bp.route("/checks")
@admin_required
def checks_partial():
    latest, results = _latest_checks()
    return render_template("ops/partials/_checks.html", checked_at=latest, results=results)


@bp.route("/checks/run", methods=["POST"])
@admin_required
def run_checks_now():
    from app.queues import get_queue
    from workers.schedule import BY_NAME

    job = BY_NAME["health_watchdog"]
    try:
        get_queue().enqueue(job.func, job_timeout=job.timeout, result_ttl=3600, description=job.name)
        message, category = "Checks queued; the table refreshes when a worker has run them.", "success"
    except Exception as exc:  # Redis down: say so instead of a 500
        message, category = f"Could not queue the checks: Redis is not answering ({type(exc).__name__}).", "error"
    if htmx:
        return render_template("ops/partials/_message.html", message=message, category=category)
    flash(message, category)
    return redirect(url_for("ops.overview"))


@bp.route("/note", methods=["POST"])
@admin_required
def note():
    form = NoteForm()
    if form.validate_on_submit():
        try:
            text = post_status_note(form.note.data or "", actor=current_actor())
            db.session.commit()
            forget_cached_status()
            flash("Note published on the status page." if text else "Note removed from the status page.", "success")
            return redirect(url_for("ops.overview"))
        except NoteError as exc:
            db.session.rollback()
            form.note.errors = [str(exc)]
    return _overview_page(form, 400)


# --- Incidents ----------------------------------------------------------------------------------------------------


@bp.route("/incidents", methods=["GET", "POST"])
@admin_required
def incident_list():
    form = IncidentForm()
    status_code = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                incident = incidents.open_incident(
                    form.title.data,
                    form.impact.data,
                    form.components.data or [],
                    form.message.data,
                    actor=current_actor(),
                    public=form.public.data,
                    status=form.status.data,
                )
                db.session.commit()
                forget_cached_status()
                alerts.enqueue_slack_delivery()
                flash(f"Incident #{incident.id} opened.", "success")
                return redirect(url_for("ops.incident_detail", incident_id=incident.id))
            except incidents.IncidentError as exc:
                db.session.rollback()
                getattr(form, exc.field).errors = [str(exc)]
        status_code = 400
    return render_template("ops/incidents.html", incidents=incidents.incident_list(), form=form), status_code


@bp.route("/incidents/<int:incident_id>", methods=["GET", "POST"])
@admin_required
def incident_detail(incident_id: int):
    incident = incidents.get_incident(incident_id) or abort(404)
    form = IncidentUpdateForm(status=incident.status.value if request.method == "GET" else None)
    status_code = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                incidents.post_update(incident, form.status.data, form.message.data, actor=current_actor())
                db.session.commit()
                forget_cached_status()
                alerts.enqueue_slack_delivery()
                flash("Update posted.", "success")
                return redirect(url_for("ops.incident_detail", incident_id=incident.id))
            except incidents.IncidentError as exc:
                db.session.rollback()
                getattr(form, exc.field).errors = [str(exc)]
                if not incident.is_open:  # the form is not shown for a resolved incident: say it at the top
                    flash(str(exc), "error")
        status_code = 400
        incident = incidents.get_incident(incident_id)
    names = [BY_KEY[c].name for c in incident.components if c in BY_KEY]
    return render_template("ops/incident.html", incident=incident, form=form, component_names=names), status_code


# --- Alerts -------------------------------------------------------------------------------------------------------


def _alert_settings_form(formdata=None) -> AlertSettingsForm:  # noqa: ANN001
    if formdata is not None:
        return AlertSettingsForm()
    values = {field: get_setting(key) for field, key in AlertSettingsForm.SETTINGS.items()}
    return AlertSettingsForm(formdata=None, data=values)


def _alerts_page(form: AlertSettingsForm, status_code: int = 200):  # noqa: ANN202
    return render_template(
        "ops/alerts.html",
        form=form,
        action_form=ActionForm(),
        recent=alerts.recent_alerts(),
        alert_email=get_setting("operator.alert_email"),
        slack_configured=bool(slack_webhook_url()),
        endpoints=external_endpoints(),
        public_url=public_url(),
    ), status_code


@bp.route("/alerts", methods=["GET", "POST"])
@admin_required
def alert_settings():
    if request.method == "GET":
        return _alerts_page(_alert_settings_form())
    form = _alert_settings_form(request.form)
    if not form.validate_on_submit():
        return _alerts_page(form, 400)
    changed = save_settings(
        {key: getattr(form, field).data for field, key in AlertSettingsForm.SETTINGS.items()}, actor=current_actor()
    )
    db.session.commit()
    flash(f"Saved ({len(changed)} changed)." if changed else "Nothing changed.", "success")
    return redirect(url_for("ops.alert_settings"))


@bp.route("/alerts/test/<any(email, slack):channel>", methods=["POST"])
@admin_required
def test_alert(channel: str):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    from app.db_types import utcnow

    now = utcnow()
    alert = alerts.raise_alert(
        "test",
        f"{channel}:{now.timestamp()}",
        f"Test alert from Advancia Mini ({channel}), sent by {current_actor()}.",
        window_minutes=alerts.ONCE,
        now=now,
        channels=(channel,),
    )
    db.session.commit()
    if channel == "slack":
        if not slack_webhook_url():
            message, category = "Slack is not configured: set SLACK_WEBHOOK_URL and restart.", "error"
        elif alerts.enqueue_slack_delivery():
            message, category = "Slack test queued; its delivery shows in the list below.", "success"
        else:
            message, category = "Slack test recorded, but Redis is down: the watchdog will post it later.", "error"
    elif alert is not None and alert.email_outbox_id:
        message, category = f"Test email queued to {get_setting('operator.alert_email')} (outbox).", "success"
    else:
        message, category = "Email alerts are off or no operator alert address is set.", "error"
    if htmx:
        return render_template("ops/partials/_message.html", message=message, category=category)
    flash(message, category)
    return redirect(url_for("ops.alert_settings"))


@bp.route("/alerts/recent")
@admin_required
def recent_alerts_partial():
    return render_template("ops/partials/_alerts.html", recent=alerts.recent_alerts())
