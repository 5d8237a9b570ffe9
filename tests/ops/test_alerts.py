"""raise_alert(): de-duplicated, rate-limited, email through the outbox, Slack posted by a job with retries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db_types import utcnow
from app.notifications.models import OutboxMessage
from app.ops.alerts import AlertError, deliver_slack_due, raise_alert
from app.ops.models import Alert, SlackStatus
from app.settings.service import set_setting
from tests.conftest import csrf_from


def _count(db, model) -> int:
    db.session.rollback()  # a fresh snapshot: SQLite's open read transaction would not see the requests' commits
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_same_alert_in_the_same_window_is_one_message(app, db):
    now = utcnow().replace(minute=5)
    first = raise_alert("payments.webhook_failing", "stripe", "Stripe webhooks fail signature checks", now=now)
    again = raise_alert("payments.webhook_failing", "stripe", "Stripe webhooks fail signature checks", now=now)
    other_key = raise_alert("payments.webhook_failing", "plaid", "Plaid webhooks fail", now=now)
    db.session.commit()
    assert first is not None and again is None and other_key is not None
    assert _count(db, Alert) == 2 and _count(db, OutboxMessage) == 2
    later = raise_alert("payments.webhook_failing", "stripe", "still failing", now=now + timedelta(minutes=61))
    db.session.commit()
    assert later is not None  # the next window: one reminder an hour at most


def test_past_the_hourly_limit_alerts_are_recorded_as_suppressed_and_not_sent(app, db, slack):
    set_setting("ops.alert_rate_limit_per_hour", 3, actor="test")
    db.session.commit()
    now = utcnow()
    alerts = [raise_alert("disk", f"volume-{i}", f"volume {i} is full", now=now) for i in range(5)]
    db.session.commit()
    assert [a.suppressed for a in alerts] == [False, False, False, True, True]
    assert [a.slack_status for a in alerts][-2:] == [SlackStatus.OFF, SlackStatus.OFF]
    assert _count(db, OutboxMessage) == 3
    assert deliver_slack_due(now=now).sent == 3 and len(slack.texts()) == 3
    # An hour later the budget is back.
    assert raise_alert("disk", "volume-9", "volume 9 is full", now=now + timedelta(minutes=61)).suppressed is False


def test_bad_alert_input_names_the_field_and_writes_nothing(app, db):
    for kwargs, field in (
        ({"kind": "", "key": "k", "message": "m"}, "kind"),
        ({"kind": "k" * 41, "key": "k", "message": "m"}, "kind"),
        ({"kind": "k", "key": "", "message": "m"}, "key"),
        ({"kind": "k", "key": "k", "message": "  "}, "message"),
    ):
        with pytest.raises(AlertError) as error:
            raise_alert(**kwargs)
        assert error.value.field == field
    assert _count(db, Alert) == 0


def test_slack_failures_are_retried_with_backoff_and_a_4xx_gives_up(app, db, slack):
    now = utcnow()
    flaky = raise_alert("job.failing", "a", "A failed", now=now)
    revoked = raise_alert("job.failing", "b", "B failed", now=now)
    db.session.commit()
    slack.reply_next(500, "internal error")
    slack.reply_next(404, "no_service")
    report = deliver_slack_due(now=now)
    assert (report.sent, report.retrying, report.dead) == (0, 1, 1)
    db.session.refresh(flaky)
    db.session.refresh(revoked)
    assert flaky.slack_status == SlackStatus.PENDING and flaky.slack_attempts == 1
    assert flaky.slack_error == "HTTP 500 internal error" and flaky.slack_next_attempt_at == now + timedelta(minutes=1)
    assert revoked.slack_status == SlackStatus.DEAD and "404 no_service" in revoked.slack_error
    assert deliver_slack_due(now=now + timedelta(seconds=30)).sent == 0  # not due yet
    assert deliver_slack_due(now=now + timedelta(minutes=1)).sent == 1
    db.session.refresh(flaky)
    assert flaky.slack_status == SlackStatus.SENT and flaky.slack_attempts == 2
    assert slack.texts() == [":rotating_light: A failed\n<" + app.config["PUBLIC_URL"] + "/ops/|Open Advancia Mini>"]
    assert deliver_slack_due(now=now + timedelta(hours=1)).sent == 0  # sent once, never again


def test_without_a_slack_webhook_only_email_is_used(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "SLACK_WEBHOOK_URL", "")
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    alert = raise_alert("job.failing", "x", "X failed")
    db.session.commit()
    assert alert.slack_status == SlackStatus.OFF and alert.email_outbox_id is not None


def test_the_alert_settings_page_tests_each_channel(operator_client, db, slack, run_worker):
    page = operator_client.get("/ops/alerts")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "operator@advancia.test" in html and "SLACK_WEBHOOK_URL is set" in html
    token = csrf_from(html)
    email = operator_client.post("/ops/alerts/test/email", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert email.status_code == 200 and "Test email queued to operator@advancia.test" in email.get_data(as_text=True)
    message = db.session.scalar(select(OutboxMessage))
    assert message.payload["template"] == "ops_alert" and "Test alert" in message.payload["context"]["message"]
    slack_test = operator_client.post("/ops/alerts/test/slack", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert "Slack test queued" in slack_test.get_data(as_text=True)
    assert run_worker().returncode == 0  # the enqueued alert_delivery job posts it
    assert len(slack.texts()) == 1 and slack.texts()[0].startswith(":wave: Test alert from Advancia Mini (slack)")
    listing = operator_client.get("/ops/alerts/recent").get_data(as_text=True)
    assert "badge-slack-sent" in listing
    # A second test is a second message (tests are never de-duplicated).
    operator_client.post("/ops/alerts/test/email", headers={"X-CSRFToken": token})
    assert _count(db, OutboxMessage) == 2
    # Without the CSRF token nothing happens.
    assert operator_client.post("/ops/alerts/test/email").status_code == 400
    assert _count(db, OutboxMessage) == 2


def test_alert_settings_are_saved_and_bad_values_are_refused_by_field(operator_client, db):
    from app.audit.models import AuditEntry
    from app.settings.service import get_setting

    token = csrf_from(operator_client.get("/ops/alerts").get_data(as_text=True))
    form = {
        "csrf_token": token,
        "alert_email_enabled": "y",
        "response_time_threshold_ms": "800",
        "flap_threshold": "3",
        "job_failure_alert_threshold": "3",
        "alert_rate_limit_per_hour": "20",
        "queue_backlog_threshold": "100",
        "disk_free_min_percent": "10",
        "backup_max_age_hours": "26",
    }
    bad = operator_client.post("/ops/alerts", data={**form, "flap_threshold": "0"})
    assert bad.status_code == 400
    assert "Number must be between 1 and 20" in bad.get_data(as_text=True)
    assert get_setting("ops.response_time_threshold_ms") == 500  # nothing saved
    good = operator_client.post("/ops/alerts", data=form)
    assert good.status_code == 302
    db.session.rollback()
    assert get_setting("ops.response_time_threshold_ms") == 800 and get_setting("ops.flap_threshold") == 3
    assert get_setting("ops.alert_slack_enabled") is False  # unticked
    actions = db.session.scalars(select(AuditEntry.object_id).where(AuditEntry.action == "settings.changed")).all()
    assert set(actions) == {"ops.response_time_threshold_ms", "ops.flap_threshold", "ops.alert_slack_enabled"}
