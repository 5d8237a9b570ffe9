"""GET /api/health for monitors, and the public status page (HTML and JSON) with uptime from stored results."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db_types import utcnow
from app.ops.models import CheckStatus, ComponentDay
from app.ops.status import forget_cached_status
from app.ops.watchdog import count_component_run
from app.settings.service import set_setting
from tests.ops.conftest import free_port


@pytest.fixture(autouse=True)
def _fresh_status_cache(app, monkeypatch):
    monkeypatch.setitem(app.config, "OPS_STATUS_CACHE_SECONDS", "0")
    forget_cached_status()
    yield
    forget_cached_status()


def test_health_is_ok_json_with_database_and_redis_and_sets_no_cookie(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis"}
    assert all(c["status"] == "ok" and isinstance(c["latency_ms"], int) for c in body["checks"].values())
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    text = response.get_data(as_text=True).lower()
    for secret in ("postgres", "sqlite", "redis://", "unix://", "version", "test-secret-key"):
        assert secret not in text


def test_health_is_degraded_but_200_when_redis_is_down(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded"
    assert response.get_json()["checks"]["redis"]["status"] == "down"
    assert response.get_json()["checks"]["database"]["status"] == "ok"


@pytest.fixture
def app_without_database(app, tmp_path):
    """A second instance of the app whose database does not answer: a real outage, not a patched function."""
    from app import create_app

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    else:
        url = f"sqlite:///{tmp_path / 'missing-dir' / 'gone.sqlite3'}"
    broken = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "OPS_STATUS_CACHE_SECONDS": "0"})
    broken.test_client_class = app.test_client_class
    yield broken
    from app.extensions import db

    with broken.app_context():
        db.engine.dispose()


def test_health_is_503_down_when_the_database_is_down(app_without_database):
    response = app_without_database.test_client().get("/api/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "down" and body["checks"]["database"]["status"] == "down"
    assert body["checks"]["redis"]["status"] == "ok"


def _day_rows(db, today, component, rows):
    for offset, (ok, degraded, down) in rows.items():
        db.session.add(
            ComponentDay(
                day=today - timedelta(days=offset),
                component=component,
                ok_runs=ok,
                degraded_runs=degraded,
                down_runs=down,
            )
        )
    db.session.commit()


def test_uptime_over_7_30_and_90_days_comes_from_the_stored_runs_rounded_down(client, db):
    today = utcnow().date()
    _day_rows(
        db,
        today,
        "api",
        {
            0: (100, 0, 0),
            3: (700, 10, 10),  # 10 runs down out of 720
            20: (720, 0, 0),
            60: (620, 0, 100),
            95: (0, 0, 720),  # older than 90 days: outside every window
        },
    )
    status = client.get("/status.json").get_json()
    api = next(c for c in status["components"] if c["key"] == "api")
    # 7 days: 810 up of 820 runs = 98.780...; 30 days: 1530/1540 = 99.350...; 90 days: 2150/2260 = 95.132...
    assert api["uptime"] == {"7d": "98.78", "30d": "99.35", "90d": "95.13"}
    assert len(api["days"]) == 90 and api["days"][-1]["date"] == today.isoformat()
    assert api["days"][-1] == {"date": today.isoformat(), "state": "ok", "uptime": "100.00"}
    assert api["days"][-4]["state"] == "major"  # 10 of 720 down: 1.4 %
    assert api["days"][-61]["state"] == "major" and api["days"][-61]["uptime"] == "86.11"
    assert api["days"][0]["state"] == "none" and api["days"][0]["uptime"] is None
    # One bad run in 43 200 is never shown as 100.00.
    _day_rows(db, today, "dashboard", {1: (43_199, 0, 1), 2: (716, 4, 0), 4: (680, 40, 0)})
    forget_cached_status()
    dashboard = next(c for c in client.get("/status.json").get_json()["components"] if c["key"] == "dashboard")
    assert dashboard["uptime"]["7d"] == "99.99" and dashboard["days"][-2]["state"] == "minor"
    # Slow runs count as up; a few slow minutes leave a day green, a slow hour marks it.
    assert dashboard["days"][-3] == {"date": (today - timedelta(days=2)).isoformat(), "state": "ok", "uptime": "100.00"}
    assert dashboard["days"][-5]["state"] == "minor"


def test_status_page_shows_components_uptime_incidents_and_the_note_and_is_cacheable(app, client, db, operator):
    from app.demo.ops_history import seed_ops_history
    from app.ops.incidents import open_incident

    now = utcnow()
    report = seed_ops_history(random.Random(1), now)
    assert report["component_days"] == 8 * 90 or report["component_days"] == 8 * 89  # today empty just after 00:00
    assert report["incidents"] == 3
    open_incident(
        "Slow invoice emails",
        "minor",
        ["email"],
        "Emails are delayed by about 10 minutes.",
        actor="user:1",
    )
    set_setting("ops.status_note", "Scheduled maintenance Sunday 02:00-02:30 UTC.", actor="test")
    db.session.commit()
    response = client.get("/status")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=1"
    assert "Set-Cookie" not in response.headers
    html = response.get_data(as_text=True)
    for text in (
        "API",
        "Card payments (Stripe)",
        "Background jobs",
        "Slow invoice emails",
        "Emails are delayed by about 10 minutes.",
        "Scheduled maintenance Sunday 02:00-02:30 UTC.",
        "Card payments failing",
        "Our card processor is timing out",
        "Scheduled database maintenance",
    ):
        assert text in html, text
    assert 'name="csrf-token"' not in html and "hx-headers" not in html
    assert html.count('class="d-') >= 8 * 89
    status = client.get("/status.json").get_json()
    card = next(c for c in status["components"] if c["key"] == "payments_card")
    # 19 of 720 runs down on the incident day, some slow minutes on others (degraded still counts as up).
    assert card["uptime"]["30d"] is not None and float(card["uptime"]["30d"]) < 100
    assert [i["title"] for i in status["incidents"]["current"]] == ["Slow invoice emails"]
    assert [i["title"] for i in status["incidents"]["past"]] == [
        "Card payments failing",
        "Scheduled database maintenance",
        "API, dashboard and payments unavailable",
    ]
    assert status["note"] == "Scheduled maintenance Sunday 02:00-02:30 UTC."
    # Demo history twice changes nothing.
    assert seed_ops_history(random.Random(1), now) == {"component_days": 0, "incidents": 0}


def test_current_state_comes_from_the_latest_watchdog_run_and_live_redis(app, client, db, monkeypatch):
    from app.ops.models import CheckResult

    now = utcnow()
    for check, status in (("web", "ok"), ("pages", "ok"), ("redis", "ok"), ("workers", "down"), ("scheduler", "ok")):
        db.session.add(CheckResult(checked_at=now, check=check, status=CheckStatus(status), detail=""))
    count_component_run("api", now.date(), CheckStatus.OK)
    db.session.commit()
    components = {c["key"]: c for c in client.get("/status.json").get_json()["components"]}
    assert components["api"]["status"] == "ok"
    assert components["jobs"]["status"] == "down"  # no live worker in the last run
    assert components["payments_card"]["status"] == "skipped"  # Stripe is not configured here

    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # Redis stops
    db.session.execute(
        CheckResult.__table__.update().where(CheckResult.check == "workers").values(status=CheckStatus.OK)
    )
    db.session.commit()
    forget_cached_status()
    status = client.get("/status.json").get_json()
    jobs = next(c for c in status["components"] if c["key"] == "jobs")
    assert jobs["status"] == "down" and "paused" in jobs["note"]
    assert status["status"] == "outage"
    html = client.get("/status").get_data(as_text=True)
    assert "Background jobs are paused" in html


def test_a_watchdog_that_stopped_running_shows_background_jobs_as_delayed(client, db):
    from app.ops.models import CheckResult

    long_ago = utcnow() - timedelta(minutes=30)
    for check in ("web", "pages", "redis", "workers", "scheduler"):
        db.session.add(CheckResult(checked_at=long_ago, check=check, status=CheckStatus.OK, detail=""))
    db.session.commit()
    jobs = next(c for c in client.get("/status.json").get_json()["components"] if c["key"] == "jobs")
    assert jobs["status"] == "degraded" and "delayed" in jobs["note"]


def test_the_status_page_serves_the_last_known_state_while_the_database_is_down(app, client, db, app_without_database):
    count_component_run("api", utcnow().date(), CheckStatus.OK)
    db.session.commit()
    good = client.get("/status.json").get_json()
    assert good["stale"] is False
    forget_cached_status()  # only the file under instance/ is left: as after a restart of the web server
    broken = app_without_database.test_client()
    response = broken.get("/status.json")
    assert response.status_code == 200
    stale = response.get_json()
    assert stale["stale"] is True and stale["stale_since"] == good["generated_at"]
    assert stale["status"] == "outage"
    api = next(c for c in stale["components"] if c["key"] == "api")
    assert api["status"] == "down" and api["uptime"] == good["components"][0]["uptime"]
    page = broken.get("/status")
    assert page.status_code == 200
    assert "Live status is unavailable: our database is not answering." in page.get_data(as_text=True)


def test_without_any_known_state_a_database_outage_still_answers(app_without_database, app):
    import shutil

    from app.ops.config import instance_dir

    with app.app_context():
        shutil.rmtree(instance_dir() / "ops", ignore_errors=True)
    forget_cached_status()
    response = app_without_database.test_client().get("/status")
    assert response.status_code == 200 and "Status unknown" in response.get_data(as_text=True)


def test_status_json_lists_no_internal_incident(client, db):
    from app.ops.incidents import open_automatic_incident

    open_automatic_incident(
        "check:disk", "Disk space is failing", [], "2 % free", "2 % free", impact="minor", now=utcnow()
    )
    db.session.commit()
    assert client.get("/status.json").get_json()["incidents"]["current"] == []
    assert db.session.scalar(select(ComponentDay)) is None
