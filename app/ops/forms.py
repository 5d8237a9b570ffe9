"""Forms of the operator's status screens."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.ops.components import COMPONENTS
from app.ops.models import IncidentImpact, IncidentStatus


def _strip(value):  # noqa: ANN001, ANN202
    return value.strip() if isinstance(value, str) else value


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


OPEN_STATUSES = [SelectChoice(s.value, s.value.title()) for s in IncidentStatus if s != IncidentStatus.RESOLVED]


class IncidentForm(FlaskForm):
    title = StringField("Title", filters=[_strip], validators=[DataRequired(), Length(max=200)])
    impact = SelectField("Impact", choices=[SelectChoice(i.value, i.value.title()) for i in IncidentImpact])
    status = SelectField("Status", choices=OPEN_STATUSES)
    components = MultiCheckboxField("Affected components", choices=[SelectChoice(c.key, c.name) for c in COMPONENTS])
    public = BooleanField("Show on the public status page", default=True)
    message = TextAreaField(
        "First update (customers read this)", filters=[_strip], validators=[DataRequired(), Length(max=5000)]
    )


class IncidentUpdateForm(FlaskForm):
    status = SelectField("Status", choices=[SelectChoice(s.value, s.value.title()) for s in IncidentStatus])
    message = TextAreaField("Update", filters=[_strip], validators=[DataRequired(), Length(max=5000)])


class NoteForm(FlaskForm):
    note = TextAreaField(
        "Note on the status page",
        filters=[_strip],
        validators=[Optional(), Length(max=500)],
        description="For example: Scheduled maintenance Sunday 02:00-02:30 UTC. Leave empty to remove it.",
    )


class AlertSettingsForm(FlaskForm):
    alert_email_enabled = BooleanField("Send alerts by email (to the operator alert address)")
    alert_slack_enabled = BooleanField("Send alerts to Slack (SLACK_WEBHOOK_URL)")
    response_time_threshold_ms = IntegerField(
        "Slow response threshold (ms)", validators=[InputRequired(), NumberRange(min=50, max=60000)]
    )
    flap_threshold = IntegerField(
        "Consecutive results before opening or resolving an incident", validators=[InputRequired(), NumberRange(1, 20)]
    )
    job_failure_alert_threshold = IntegerField(
        "Failed runs in a row before a job alert", validators=[InputRequired(), NumberRange(1, 50)]
    )
    alert_rate_limit_per_hour = IntegerField(
        "Alerts per hour at most", validators=[InputRequired(), NumberRange(1, 500)]
    )
    queue_backlog_threshold = IntegerField(
        "Queue backlog that counts as degraded", validators=[InputRequired(), NumberRange(1, 1_000_000)]
    )
    disk_free_min_percent = IntegerField("Minimum free disk (%)", validators=[InputRequired(), NumberRange(1, 90)])
    backup_max_age_hours = IntegerField(
        "Oldest acceptable backup (hours)", validators=[InputRequired(), NumberRange(1, 24 * 14)]
    )

    #: form field -> setting key
    SETTINGS = {
        "alert_email_enabled": "ops.alert_email_enabled",
        "alert_slack_enabled": "ops.alert_slack_enabled",
        "response_time_threshold_ms": "ops.response_time_threshold_ms",
        "flap_threshold": "ops.flap_threshold",
        "job_failure_alert_threshold": "ops.job_failure_alert_threshold",
        "alert_rate_limit_per_hour": "ops.alert_rate_limit_per_hour",
        "queue_backlog_threshold": "ops.queue_backlog_threshold",
        "disk_free_min_percent": "ops.disk_free_min_percent",
        "backup_max_age_hours": "ops.backup_max_age_hours",
    }


class ActionForm(FlaskForm):
    """A button that changes something: CSRF only."""
