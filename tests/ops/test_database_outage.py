"""The database itself down: the watchdog tells the operator once, by Slack and email directly (the outbox is a table
in that database), tells them once when it answers again, and writes the outage down as a resolved incident.

The outage is a PostgreSQL URL on a closed loopback port given to the probe; the machine's database stays up.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from rq import Queue
from rq.job import JobStatus
from sqlalchemy import func, select

from app.db_types import utcnow
from app.ops.database_outage import OUTAGE_KEY, DatabaseUnreachable, guard_database
from app.ops.direct_alerts import ROUTING_KEY
from app.ops.models import CheckStatus, ComponentDay, Incident, IncidentStatus
from app.ops.status import forget_cached_status
from app.ops.watchdog import count_component_run, refresh_alert_routing, run_watchdog
from app.settings.service import set_setting
from tests.ops.conftest import free_port

ALERTS_TO = "ops-alerts@example.com"


@pytest.fixture
def down_url() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/advancia"


@pytest.fixture
def routing(db):
    """What a healthy watchdog run leaves in Redis for the outage path."""
    set_setting("operator.alert_email", ALERTS_TO, actor="test")
    db.session.commit()
    assert refresh_alert_routing()


def _down(url: str, **kwargs) -> str:
    with pytest.raises(DatabaseUnreachable) as raised:
        guard_database(database_url=url, **kwargs)
    return str(raised.value)


def _noticed_earlier(redis, minutes: int = 2) -> None:
    """An earlier watchdog run found the database down (the flap guard's first sighting)."""
    redis.set(OUTAGE_KEY, (utcnow() - timedelta(minutes=minutes)).isoformat())


@pytest.fixture
def loud(caplog, monkeypatch):
    """Captures the outage path's log. The test app's migrations run Alembic's fileConfig, which disables every
    logger that existed then (a test-only effect: production migrates in its own process)."""
    for name in ("app.ops.direct_alerts", "app.ops.database_outage"):
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
    caplog.set_level(logging.WARNING)
    return caplog


def _recipients(smtp_server) -> list[str]:
    return [rcpt for _, rcpts, _ in smtp_server.envelopes for rcpt in rcpts]


def test_a_database_outage_is_told_once_by_slack_and_email_and_the_run_still_fails(
    app, routing, slack, smtp_server, down_url, redis
):
    first = _down(down_url)  # the first sighting pages nobody: it may be a blip
    assert "the operator is told if the next run finds it down too" in first
    assert slack.texts() == [] and smtp_server.messages == []
    _noticed_earlier(redis)  # two minutes on, still down
    error = _down(down_url)
    assert error.startswith("Database unreachable since ") and "sent by slack, email" in error
    assert len(slack.texts()) == 1 and "Database unreachable since" in slack.texts()[0]
    assert _recipients(smtp_server) == [ALERTS_TO]
    assert smtp_server.messages[0]["Subject"].startswith("[Advancia] Database unreachable since ")
    assert "not through the outbox" in smtp_server.messages[0].get_content()

    error = _down(down_url)
    assert "the operator was told when it started" in error
    assert len(slack.texts()) == 1 and len(smtp_server.messages) == 1
    assert redis.get(OUTAGE_KEY) is not None


def test_when_it_answers_again_one_recovery_message_and_a_resolved_incident_with_the_real_times(
    app, client, db, routing, slack, smtp_server, down_url, redis
):
    started = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    ended = started + timedelta(minutes=10)
    count_component_run("api", ended.date(), CheckStatus.OK, runs=95)
    db.session.commit()
    _down(down_url, now=started)
    _down(down_url, now=started + timedelta(minutes=2))

    watch = guard_database(now=ended)
    assert watch.summary() == {"database_recovered_after": "10 min", "database_incident": watch.incident_id}
    assert slack.texts()[1].startswith(":white_check_mark: Database reachable again after 10 min")
    assert [m["Subject"] for m in smtp_server.messages][1] == "[Advancia] Database reachable again after 10 min"
    assert redis.get(OUTAGE_KEY) is None
    incident = db.session.get(Incident, watch.incident_id)
    assert (incident.opened_at, incident.resolved_at) == (started, ended)
    assert incident.status == IncidentStatus.RESOLVED and incident.public and incident.open_key is None
    assert incident.components == ["api", "dashboard"]

    # Nothing more on the next runs: no message, no second incident.
    assert guard_database(now=ended + timedelta(minutes=2)).summary() == {}
    assert len(slack.texts()) == 2 and len(smtp_server.messages) == 2
    assert db.session.scalar(select(func.count()).select_from(Incident)) == 1

    # The status page: the outage among past incidents, its 5 missed runs (10 min / 2 min) as down.
    forget_cached_status()
    status = client.get("/status.json").get_json()
    (past,) = status["incidents"]["past"]
    assert (past["opened_at"], past["resolved_at"]) == (started.isoformat(), ended.isoformat())
    api = next(c for c in status["components"] if c["key"] == "api")
    assert api["uptime"]["7d"] == "95.00"
    assert db.session.scalar(select(func.sum(ComponentDay.down_runs)).where(ComponentDay.component == "dashboard")) == 5


def test_two_watchdogs_at_once_send_one_alert_and_one_recovery_between_them(
    app, db, routing, slack, smtp_server, down_url, redis
):
    def race(url: str | None) -> list:
        barrier, outcomes = threading.Barrier(2), []

        def run() -> None:
            with app.app_context():
                barrier.wait()
                try:
                    outcomes.append(guard_database(database_url=url).summary())
                except DatabaseUnreachable as exc:
                    outcomes.append(str(exc))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        return outcomes

    redis.set(OUTAGE_KEY, (utcnow() - timedelta(minutes=2)).isoformat())  # noticed by an earlier run
    assert len(race(down_url)) == 2
    assert len(slack.texts()) == 1 and len(smtp_server.messages) == 1
    recoveries = race(None)
    assert sorted(bool(o) for o in recoveries) == [False, True]
    assert len(slack.texts()) == 2 and "reachable again" in slack.texts()[1]
    assert len(smtp_server.messages) == 2
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Incident)) == 1


def test_with_no_cached_address_and_no_env_fallback_nothing_is_sent_and_the_error_says_why(
    app, smtp_server, down_url, redis, loud, monkeypatch
):
    monkeypatch.delenv("OPS_ALERT_EMAIL", raising=False)
    assert redis.get(ROUTING_KEY) is None
    _noticed_earlier(redis)
    error = _down(down_url)
    assert "operator NOT told" in error and "no alert address cached in Redis and OPS_ALERT_EMAIL is not set" in error
    assert "SLACK_WEBHOOK_URL is not set" in error
    assert any(r.levelname == "CRITICAL" and "could not be delivered" in r.getMessage() for r in loud.records)
    assert smtp_server.messages == []

    # Nobody heard it, so the next run tries again: with the env fallback set, the email goes out.
    monkeypatch.setenv("OPS_ALERT_EMAIL", "fallback@example.com")
    assert "sent by email" in _down(down_url)
    assert _recipients(smtp_server) == ["fallback@example.com"]


def test_the_operators_switches_from_the_last_healthy_run_are_respected(app, db, slack, smtp_server, down_url, redis):
    set_setting("operator.alert_email", ALERTS_TO, actor="test")
    set_setting("ops.alert_email_enabled", False, actor="test")
    db.session.commit()
    run_watchdog(deliver=False)  # the normal run caches them
    _noticed_earlier(redis)

    assert "email: switched off (ops.alert_email_enabled)" in _down(down_url)
    assert len(slack.texts()) == 1 and smtp_server.messages == []


def test_with_redis_down_as_well_it_logs_loudly_and_fails(app, routing, slack, smtp_server, down_url, loud):
    error = _down(down_url, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    assert "both unreachable" in error
    assert any(r.levelname == "CRITICAL" and "REDIS BOTH UNREACHABLE" in r.getMessage() for r in loud.records)
    assert slack.texts() == [] and smtp_server.messages == []


def test_the_watchdog_job_on_a_real_worker_alerts_and_fails_in_rq(
    app, redis, routing, slack, smtp_server, down_url, run_worker, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", down_url)  # the worker process's database is the unreachable one
    _noticed_earlier(redis)
    job = Queue("default", connection=redis).enqueue("workers.jobs.health_watchdog")
    run_worker()
    job.refresh()
    assert job.get_status() == JobStatus.FAILED
    assert "Database unreachable since" in job.latest_result().exc_string
    assert len(slack.texts()) == 1 and _recipients(smtp_server) == [ALERTS_TO]


def test_a_blip_seen_by_one_run_pages_nobody_and_counts_as_one_down_run(
    app, db, routing, slack, smtp_server, down_url, redis
):
    noticed = utcnow().replace(microsecond=0)
    _down(down_url, now=noticed)
    assert guard_database(now=noticed + timedelta(minutes=2)).summary() == {}
    assert slack.texts() == [] and smtp_server.messages == []
    assert redis.get(OUTAGE_KEY) is None
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Incident)) == 0
    assert db.session.scalar(select(func.sum(ComponentDay.down_runs)).where(ComponentDay.component == "api")) == 1
