"""The operator's status screens: checks now, incidents (open, update, resolve) and the note on the status page."""

from __future__ import annotations

from sqlalchemy import func, select

from app.ops.models import Alert, Incident, IncidentStatus, IncidentUpdate
from app.ops.status import forget_cached_status
from tests.conftest import csrf_from


def _count(db, model) -> int:
    db.session.rollback()  # a fresh snapshot: SQLite's open read transaction would not see the requests' commits
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_status_nav_entry_opens_the_operator_status_screen(operator_client):
    dashboard = operator_client.get("/").get_data(as_text=True)
    assert '<a href="/ops/" class="">Status</a>' in dashboard
    page = operator_client.get("/ops/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "The watchdog has not run yet" in html and "Run checks now" in html and "Public page" in html


def test_run_checks_now_queues_the_watchdog_and_the_table_shows_its_results(operator_client, db, run_worker):
    token = csrf_from(operator_client.get("/ops/").get_data(as_text=True))
    response = operator_client.post("/ops/checks/run", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200 and "Checks queued" in response.get_data(as_text=True)
    assert run_worker().returncode == 0
    table = operator_client.get("/ops/checks").get_data(as_text=True)
    for check in ("web", "database", "redis", "workers", "scheduler", "disk", "backups", "tls", "ext:stripe"):
        assert f"<code>{check}</code>" in table, check
    assert "not applicable: PUBLIC_URL is not https" in table


def test_opening_an_incident_with_bad_input_names_the_field_and_creates_nothing(operator_client, db):
    token = csrf_from(operator_client.get("/ops/incidents").get_data(as_text=True))
    base = {"csrf_token": token, "impact": "minor", "status": "investigating", "public": "y"}
    no_title = operator_client.post("/ops/incidents", data={**base, "title": "  ", "message": "Looking into it"})
    assert no_title.status_code == 400 and "This field is required." in no_title.get_data(as_text=True)
    bad_component = operator_client.post(
        "/ops/incidents", data={**base, "title": "Slow", "message": "Looking", "components": ["warp_drive"]}
    )
    assert bad_component.status_code == 400
    assert "is not a valid choice" in bad_component.get_data(as_text=True)
    bad_impact = operator_client.post(
        "/ops/incidents", data={**base, "impact": "apocalyptic", "title": "Slow", "message": "Looking"}
    )
    assert bad_impact.status_code == 400 and "Not a valid choice" in bad_impact.get_data(as_text=True)
    assert _count(db, Incident) == 0 and _count(db, Alert) == 0


def test_an_incident_is_opened_updated_and_resolved_from_the_dashboard_with_one_alert_each_way(
    operator_client, client, db, app, monkeypatch
):
    monkeypatch.setitem(app.config, "OPS_STATUS_CACHE_SECONDS", "0")
    forget_cached_status()
    token = csrf_from(operator_client.get("/ops/incidents").get_data(as_text=True))
    created = operator_client.post(
        "/ops/incidents",
        data={
            "csrf_token": token,
            "title": "Bitcoin payments delayed",
            "impact": "minor",
            "status": "identified",
            "components": ["payments_btc"],
            "public": "y",
            "message": "Our Bitcoin node is catching up; payments will confirm late.",
        },
    )
    assert created.status_code == 302
    incident = db.session.scalar(select(Incident))
    assert created.headers["Location"] == f"/ops/incidents/{incident.id}"
    assert incident.status == IncidentStatus.IDENTIFIED and incident.components == ["payments_btc"]
    assert incident.opened_by.startswith("user:")
    public = client.get("/status").get_data(as_text=True)
    assert "Bitcoin payments delayed" in public and "Our Bitcoin node is catching up" in public

    detail = operator_client.get(f"/ops/incidents/{incident.id}").get_data(as_text=True)
    empty = operator_client.post(
        f"/ops/incidents/{incident.id}", data={"csrf_token": csrf_from(detail), "status": "monitoring", "message": ""}
    )
    assert empty.status_code == 400 and "This field is required." in empty.get_data(as_text=True)
    assert _count(db, IncidentUpdate) == 1
    operator_client.post(
        f"/ops/incidents/{incident.id}",
        data={"csrf_token": csrf_from(detail), "status": "monitoring", "message": "Node synced; watching."},
    )
    resolved = operator_client.post(
        f"/ops/incidents/{incident.id}",
        data={"csrf_token": csrf_from(detail), "status": "resolved", "message": "All payments confirmed."},
    )
    assert resolved.status_code == 302
    db.session.rollback()
    incident = db.session.get(Incident, incident.id)
    assert incident.status == IncidentStatus.RESOLVED and incident.resolved_at is not None
    assert [u.message for u in incident.updates] == [
        "All payments confirmed.",
        "Node synced; watching.",
        "Our Bitcoin node is catching up; payments will confirm late.",
    ]
    assert [a.kind for a in db.session.scalars(select(Alert).order_by(Alert.id))] == [
        "incident.opened",
        "incident.resolved",
    ]
    again = operator_client.post(
        f"/ops/incidents/{incident.id}",
        data={"csrf_token": csrf_from(detail), "status": "monitoring", "message": "Oops"},
    )
    assert again.status_code == 400 and "This incident is resolved" in again.get_data(as_text=True)
    status = client.get("/status.json").get_json()
    assert status["incidents"]["current"] == []
    assert status["incidents"]["past"][0]["title"] == "Bitcoin payments delayed"


def test_the_operator_posts_and_removes_the_note_on_the_status_page(operator_client, client, db, app, monkeypatch):
    monkeypatch.setitem(app.config, "OPS_STATUS_CACHE_SECONDS", "0")
    forget_cached_status()
    token = csrf_from(operator_client.get("/ops/").get_data(as_text=True))
    too_long = operator_client.post("/ops/note", data={"csrf_token": token, "note": "x" * 501})
    assert too_long.status_code == 400 and "Field cannot be longer than 500 characters." in too_long.get_data(
        as_text=True
    )
    note = "Scheduled maintenance Sunday 02:00-02:30 UTC."
    assert operator_client.post("/ops/note", data={"csrf_token": token, "note": note}).status_code == 302
    assert note in client.get("/status").get_data(as_text=True)
    assert operator_client.post("/ops/note", data={"csrf_token": token, "note": ""}).status_code == 302
    assert client.get("/status.json").get_json()["note"] == ""
