"""The watchdog: one stored result per check per run, daily uptime per component, incidents behind a flap guard,
one alert when an outage opens and one when it resolves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db_types import utcnow
from app.notifications.models import OutboxMessage
from app.ops.models import Alert, CheckResult, CheckStatus, ComponentDay, Incident, IncidentStatus, SlackStatus
from app.ops.watchdog import run_watchdog
from app.settings.service import set_setting
from tests.ops.conftest import free_port

EXPECTED_CHECKS = {
    "web",
    "pages",
    "tls",
    "database",
    "redis",
    "workers",
    "scheduler",
    "disk",
    "backups",
    "ext:stripe",
    "ext:plaid",
    "ext:esplora",
    "ext:eth_rpc",
    "ext:smtp",
}


@pytest.fixture
def healthy(app, db, public_url, rq_worker, scheduler_ticked):
    """Everything up: the app on loopback, a live worker, a ticking scheduler; no timing can degrade a check."""
    set_setting("ops.response_time_threshold_ms", 60_000, actor="test")
    db.session.commit()


def _results(db, checked_at) -> dict[str, CheckResult]:
    return {r.check: r for r in db.session.scalars(select(CheckResult).where(CheckResult.checked_at == checked_at))}


def test_a_run_stores_one_result_per_check_and_counts_the_day_per_component(healthy, db):
    now = utcnow()
    report = run_watchdog(now=now, deliver=False)
    results = _results(db, now)
    assert set(results) == EXPECTED_CHECKS
    assert db.session.scalar(select(func.count()).select_from(CheckResult)) == len(EXPECTED_CHECKS)
    for name in ("web", "pages", "database", "redis", "workers", "scheduler", "disk"):
        assert results[name].status == CheckStatus.OK, (name, results[name].detail)
        assert results[name].latency_ms is not None
    assert "reports ok" in results["web"].detail
    assert "1 worker(s) alive" in results["workers"].detail
    assert results["tls"].status == CheckStatus.SKIPPED and "not applicable" in results["tls"].detail
    assert results["backups"].status == CheckStatus.DEGRADED and "no backup yet" in results["backups"].detail
    assert results["ext:stripe"].status == CheckStatus.SKIPPED and results["ext:stripe"].detail == "not configured"
    days = {d.component: d for d in db.session.scalars(select(ComponentDay))}
    # Unconfigured rails and email are not monitored: no made-up uptime for them.
    assert set(days) == {"api", "dashboard", "jobs"}
    assert all((d.day, d.ok_runs, d.degraded_runs, d.down_runs) == (now.date(), 1, 0, 0) for d in days.values())
    assert "down" not in report.summary() and report.summary()["degraded"] == "backups"

    run_watchdog(now=now + timedelta(minutes=2), deliver=False)
    assert db.session.scalar(select(ComponentDay.ok_runs).where(ComponentDay.component == "api")) == 2


def test_a_slow_answer_is_degraded_and_a_refused_connection_is_down(app, db, monkeypatch):
    import json
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            time.sleep(0.3)  # at least 300 ms, whatever the machine: above the 100 ms threshold set below
            body = json.dumps({"status": "ok", "checks": {}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        set_setting("ops.response_time_threshold_ms", 100, actor="test")
        db.session.commit()
        monkeypatch.setitem(app.config, "PUBLIC_URL", f"http://127.0.0.1:{server.server_port}")
        now = utcnow()
        run_watchdog(now=now, deliver=False)
        web = _results(db, now)["web"]
        assert web.status == CheckStatus.DEGRADED and "threshold 100 ms" in web.detail and web.latency_ms >= 300
    finally:
        server.shutdown()
        server.server_close()
    monkeypatch.setitem(app.config, "PUBLIC_URL", f"http://127.0.0.1:{free_port()}")
    later = now + timedelta(minutes=2)
    run_watchdog(now=later, deliver=False)
    results = _results(db, later)
    assert results["web"].status == CheckStatus.DOWN and "ConnectionRefusedError" in results["web"].detail
    assert results["pages"].status == CheckStatus.DOWN


def test_an_outage_opens_one_incident_with_one_alert_and_its_recovery_resolves_it_with_one_more(
    healthy, app, db, monkeypatch, slack, public_url
):
    set_setting("ops.flap_threshold", 2, actor="test")
    db.session.commit()
    start = utcnow()
    at = [start + timedelta(minutes=2 * i) for i in range(8)]
    run_watchdog(now=at[0])
    monkeypatch.setitem(app.config, "PUBLIC_URL", f"http://127.0.0.1:{free_port()}")  # the web server is gone

    first_down = run_watchdog(now=at[1])
    assert first_down.opened == []  # one bad result is not an outage yet (flap guard)
    second_down = run_watchdog(now=at[2])
    assert len(second_down.opened) == 1
    incident = db.session.get(Incident, second_down.opened[0])
    # Both HTTP checks fail for one cause: one incident, not one per check.
    assert incident.source_key == "check:web" and incident.public and incident.components == ["api", "dashboard"]
    assert incident.status == IncidentStatus.INVESTIGATING and incident.opened_by == "watchdog"
    assert run_watchdog(now=at[3]).opened == []  # still down: nothing new

    monkeypatch.setitem(app.config, "PUBLIC_URL", public_url)  # back
    assert run_watchdog(now=at[4]).resolved == []  # one good result is not a recovery yet
    recovered = run_watchdog(now=at[5])
    assert recovered.resolved == [incident.id]
    db.session.refresh(incident)
    assert incident.status == IncidentStatus.RESOLVED and incident.resolved_at == at[5] and incident.open_key is None
    assert [u.status for u in incident.updates] == [IncidentStatus.RESOLVED, IncidentStatus.INVESTIGATING]

    alerts = db.session.scalars(select(Alert).order_by(Alert.id)).all()
    assert [(a.kind, a.key) for a in alerts] == [
        ("incident.opened", f"incident:{incident.id}"),
        ("incident.resolved", f"incident:{incident.id}"),
    ]
    assert all(a.slack_status == SlackStatus.SENT for a in alerts)
    texts = slack.texts()
    assert len(texts) == 2
    assert "Incident: API, Dashboard and customer pages: service disruption" in texts[0]
    assert "ConnectionRefusedError" in texts[0]
    assert texts[1].startswith(":white_check_mark: Resolved: API, Dashboard")
    emails = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [m.dedupe_key for m in emails] == [f"alert:{a.id}" for a in alerts]
    assert emails[0].payload["to"] == "operator@advancia.test" and emails[0].payload["template"] == "ops_alert"
    assert emails[0].payload["subject"].startswith("[Advancia] Incident: API")


def test_results_alternating_between_down_and_up_never_open_an_incident(healthy, app, db, monkeypatch, public_url):
    closed = f"http://127.0.0.1:{free_port()}"
    start = utcnow()
    for i, url in enumerate([closed, public_url, closed, public_url, closed]):
        monkeypatch.setitem(app.config, "PUBLIC_URL", url)
        run_watchdog(now=start + timedelta(minutes=2 * i), deliver=False)
    assert db.session.scalar(select(func.count()).select_from(Incident)) == 0
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0


def test_an_incident_the_operator_resolves_during_the_outage_is_not_reopened_until_a_new_outage(
    healthy, app, db, monkeypatch, public_url
):
    from app.ops.incidents import resolve_incident

    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setitem(app.config, "PUBLIC_URL", closed)
    start = utcnow()
    at = [start + timedelta(minutes=2 * i) for i in range(10)]
    run_watchdog(now=at[0], deliver=False)
    incident_id = run_watchdog(now=at[1], deliver=False).opened[0]
    resolve_incident(db.session.get(Incident, incident_id), "Known: moving hosts.", actor="user:1", now=at[1])
    db.session.commit()
    assert run_watchdog(now=at[2], deliver=False).opened == []
    assert run_watchdog(now=at[3], deliver=False).opened == []
    monkeypatch.setitem(app.config, "PUBLIC_URL", public_url)
    run_watchdog(now=at[4], deliver=False)
    monkeypatch.setitem(app.config, "PUBLIC_URL", closed)
    run_watchdog(now=at[5], deliver=False)
    reopened = run_watchdog(now=at[6], deliver=False).opened
    assert len(reopened) == 1 and reopened[0] != incident_id


def test_the_database_allows_one_open_incident_per_source(app, db):
    from app.ops.incidents import open_automatic_incident

    now = utcnow()
    first = open_automatic_incident("check:disk", "Disk space is failing", [], "low", "low", impact="minor", now=now)
    second = open_automatic_incident("check:disk", "Disk space is failing", [], "low", "low", impact="minor", now=now)
    db.session.commit()
    assert first is not None and second is None
    assert db.session.scalar(select(func.count()).select_from(Incident)) == 1
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 1


def test_a_job_failing_n_times_in_a_row_raises_one_alert_per_streak(app, db):
    from app.automation.service import run_recorded

    set_setting("ops.job_failure_alert_threshold", 3, actor="test")
    db.session.commit()

    def failing():
        raise RuntimeError("Plaid answered 500")

    def fail(times: int) -> None:
        for _ in range(times):
            with pytest.raises(RuntimeError):
                run_recorded("bank_sync", failing)

    from app.ops.watchdog import WatchdogReport, alert_failing_jobs

    def sweep() -> list[str]:
        report = WatchdogReport()
        alert_failing_jobs(utcnow(), report)
        db.session.commit()
        return report.job_alerts

    fail(2)
    assert sweep() == []
    fail(1)
    assert sweep() == ["bank_sync"]
    fail(1)
    assert sweep() == []  # the same streak: no second message
    run_recorded("bank_sync", lambda: {"matched": 1})
    fail(3)
    assert sweep() == ["bank_sync"]
    alerts = db.session.scalars(select(Alert).where(Alert.kind == "job.failing")).all()
    assert len(alerts) == 2 and "Last error: RuntimeError: Plaid answered 500" in alerts[0].message


def test_configured_external_services_are_reached_with_a_tcp_connect_and_smtp_with_its_greeting(
    app, db, monkeypatch, tcp_server
):
    esplora = tcp_server()
    smtp = tcp_server(b"220 mail.example ESMTP\r\n")
    not_smtp = tcp_server(b"HTTP/1.1 400 Bad Request\r\n")
    monkeypatch.setitem(app.config, "ESPLORA_URL", f"http://127.0.0.1:{esplora.port}/api")
    monkeypatch.setitem(app.config, "ETH_RPC_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", str(smtp.port))
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", f"http://127.0.0.1:{not_smtp.port}")
    monkeypatch.setitem(app.config, "PLAID_HOST", "")
    now = utcnow()
    run_watchdog(now=now, deliver=False)
    results = _results(db, now)
    assert results["ext:esplora"].status == CheckStatus.OK
    assert results["ext:eth_rpc"].status == CheckStatus.DOWN and "Refused" in results["ext:eth_rpc"].detail
    assert results["ext:smtp"].status == CheckStatus.OK
    assert results["ext:stripe"].status == CheckStatus.OK  # a TCP connect only: no API call, no quota spent
    assert results["ext:plaid"].status == CheckStatus.SKIPPED
    monkeypatch.setitem(app.config, "SMTP_PORT", str(not_smtp.port))
    later = now + timedelta(minutes=2)
    run_watchdog(now=later, deliver=False)
    assert _results(db, later)["ext:smtp"].status == CheckStatus.DOWN
    days = {d.component for d in db.session.scalars(select(ComponentDay))}
    assert {"payments_btc", "payments_eth", "payments_card", "email"} <= days and "payments_bank" not in days


def test_disk_and_backup_checks_follow_their_thresholds(app, db, tmp_path, monkeypatch):
    from app.ops.backups import create_backup

    monkeypatch.setitem(app.config, "BACKUP_DIR", str(tmp_path))
    set_setting("ops.disk_free_min_percent", 90, actor="test")
    db.session.commit()
    now = utcnow()
    create_backup(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, now - timedelta(hours=30))
    run_watchdog(now=now, deliver=False)
    results = _results(db, now)
    disk_free = float(results["disk"].detail.split(" %")[0])
    assert results["disk"].status == (CheckStatus.DEGRADED if disk_free < 90 else CheckStatus.OK)
    assert results["backups"].status == CheckStatus.DEGRADED and "30.0 h old" in results["backups"].detail
    create_backup(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, now - timedelta(minutes=5))
    later = now + timedelta(minutes=2)
    run_watchdog(now=later, deliver=False)
    assert _results(db, later)["backups"].status == CheckStatus.OK


def test_old_results_are_pruned_but_daily_uptime_stays(healthy, db):
    set_setting("ops.check_results_retention_days", 14, actor="test")
    db.session.commit()
    now = utcnow()
    run_watchdog(now=now - timedelta(days=15), deliver=False)
    report = run_watchdog(now=now, deliver=False)
    assert report.pruned == len(EXPECTED_CHECKS)
    assert db.session.scalar(select(func.count()).select_from(CheckResult)) == len(EXPECTED_CHECKS)
    assert db.session.scalar(select(func.count()).select_from(ComponentDay)) == 6  # 3 components x 2 days


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on loopback with a self-signed certificate for localhost that expires in 10 days."""
    import ssl
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "10",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://localhost:{server.server_port}", str(cert)
    server.shutdown()
    server.server_close()


def test_the_certificate_of_an_https_public_url_is_checked_for_trust_and_expiry(tls_server):
    from app.ops.checks import probe_tls

    url, cafile = tls_server
    soon = probe_tls(url, 14, cafile=cafile)
    assert soon.status == CheckStatus.DEGRADED and "certificate of localhost expires" in soon.detail
    assert "(9 days)" in soon.detail or "(10 days)" in soon.detail
    assert probe_tls(url, 5, cafile=cafile).status == CheckStatus.OK
    untrusted = probe_tls(url, 14)  # the system's CAs do not know our self-signed certificate
    assert untrusted.status == CheckStatus.DOWN and "certificate not valid" in untrusted.detail
    assert probe_tls("http://localhost", 14).status == CheckStatus.SKIPPED
