"""Redis stops and comes back (empty): the web keeps serving and shows the outage; the worker and scheduler
survive it and the scheduled jobs run again on their own. Real processes: redis-server, gunicorn, rq, scheduler."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.automation.models import JobRun, RunOutcome
from app.embedded_redis import EmbeddedRedis
from tests.factories import make_user
from tests.ops.conftest import ROOT, free_port, wait_for

BIN = Path(sys.executable).parent


class Process:
    def __init__(self, name: str, args: list[str], env: dict, logs: Path) -> None:
        self.log = logs / f"{name}.log"
        self.handle = self.log.open("w")
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.handle, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.handle.close()


def _watchdog_runs(db) -> int:
    db.session.rollback()
    return db.session.scalar(
        select(func.count())
        .select_from(JobRun)
        .where(JobRun.job_name == "health_watchdog", JobRun.outcome == RunOutcome.SUCCEEDED)
    )


@dataclass
class Page:
    status_code: int
    text: str

    def json(self) -> dict:
        return json.loads(self.text)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return None


class Browser:
    """A cookie-keeping HTTP client that does not follow redirects (urllib only: no extra dependency)."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def open(self, url: str, data: dict | None = None) -> Page:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(url, data=body, timeout=10) as response:
                return Page(response.status, response.read().decode())
        except urllib.error.HTTPError as exc:
            return Page(exc.code, exc.read().decode(errors="replace"))


def get(url: str) -> Page:
    return Browser().open(url)


def _login(base: str) -> Browser:
    browser = Browser()
    page = browser.open(f"{base}/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = browser.open(
        f"{base}/login", {"email": "op@example.com", "password": "correct horse battery", "csrf_token": token}
    )
    assert response.status_code == 302, response.text[:500]
    return browser


@pytest.fixture
def stack(app, db, tmp_path):
    """Its own Redis, and the web (gunicorn), a worker and the scheduler pointed at it and at the test database."""
    make_user(role="admin", email="op@example.com", password="correct horse battery")
    redis = EmbeddedRedis(Path("/tmp") / f"adv-ops-{secrets.token_hex(3)}")
    redis_url = redis.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        REDIS_URL=redis_url,
        PUBLIC_URL=base,
        ADVANCIA_INSTANCE_DIR=str(tmp_path / "instance"),
        OPS_STATUS_CACHE_SECONDS="0",
        SCHEDULER_INTERVAL="1",
    )
    processes = [
        Process(
            "web",
            [str(BIN / "gunicorn"), "--workers", "1", "--threads", "4", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
            env,
            tmp_path,
        ),
        Process("worker", [str(BIN / "rq"), "worker", "--url", redis_url, "default"], env, tmp_path),
        Process("scheduler", [sys.executable, "-m", "workers.scheduler"], env, tmp_path),
    ]
    try:
        yield {
            "base": base,
            "redis": redis,
            "processes": dict(zip(("web", "worker", "scheduler"), processes, strict=True)),
        }
    finally:
        for process in processes:
            process.stop()
        redis.stop()
        shutil.rmtree(redis.data_dir, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        return get(url).status_code == 200
    except OSError:
        return False


def test_a_redis_outage_is_shown_survived_and_recovered_from(stack, db):
    base, redis, procs = stack["base"], stack["redis"], stack["processes"]
    wait_for(lambda: _answers(f"{base}/api/health"))
    # The scheduler enqueues the watchdog (due at once); the worker runs it against this web server.
    wait_for(lambda: _watchdog_runs(db) >= 1, timeout=60)
    operator = _login(base)

    redis.stop()
    health = get(f"{base}/api/health")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded" and health.json()["checks"]["redis"]["status"] == "down"
    status = get(f"{base}/status.json").json()
    jobs = next(c for c in status["components"] if c["key"] == "jobs")
    assert jobs["status"] == "down" and "paused" in jobs["note"]
    assert status["status"] == "outage"
    page = get(f"{base}/status")
    assert page.status_code == 200 and "Background jobs are paused" in page.text
    for path in ("/", "/ops/", "/ops/incidents", "/ops/alerts"):
        assert operator.open(f"{base}{path}").status_code == 200, path
    automation = operator.open(f"{base}/automation/")
    assert automation.status_code == 200 and "Redis is not answering" in automation.text
    # Signing in still works: the login rate limiter falls back to memory.
    _login(base)
    # Worker and scheduler notice, and keep running instead of exiting.
    wait_for(lambda: "could not connect to Redis" in procs["worker"].output(), timeout=30)
    wait_for(lambda: "Redis is not answering" in procs["scheduler"].output(), timeout=30)
    assert procs["worker"].alive() and procs["scheduler"].alive() and procs["web"].alive()
    runs_during_outage = _watchdog_runs(db)

    redis.start()  # back, and empty: no schedule, no queues, no worker registrations
    assert get(f"{base}/api/health").json()["status"] == "ok"
    # The scheduler puts the schedule back and the worker runs the next watchdog: jobs resume by themselves.
    wait_for(lambda: _watchdog_runs(db) > runs_during_outage, timeout=90)
    from workers.schedule import SCHEDULE

    # Registered at start, and again once Redis was back (empty).
    assert procs["scheduler"].output().count(f"added {len(SCHEDULE)},") == 2
    status = get(f"{base}/status.json").json()
    assert next(c for c in status["components"] if c["key"] == "jobs")["status"] != "down"
