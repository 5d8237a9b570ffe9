"""The watchdog's health checks: each one probes one thing for real and reports status, latency and one line.

Network probes (HTTP, TLS, TCP) take plain arguments and run in threads; the others need the app context.
No check spends an external service's quota: external services get a TCP connect (SMTP: its free greeting).
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from app.ops.models import CheckStatus

HTTP_TIMEOUT = 5.0
TCP_TIMEOUT = 3.0
#: the watchdog is not in a hurry: a busy Redis answering in 2 s is slow (degraded), not down
REDIS_TIMEOUT = 3.0
#: a scheduler that has not ticked for this long is not running (it ticks every few seconds)
SCHEDULER_STALE_SECONDS = 60


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    status: CheckStatus
    latency_ms: int | None
    detail: str


@dataclass(frozen=True)
class Thresholds:
    response_ms: int = 500
    queue_backlog: int = 100
    disk_free_min_percent: int = 10
    tls_warn_days: int = 14
    backup_max_age_hours: int = 26

    @classmethod
    def from_settings(cls) -> Thresholds:
        from app.settings.service import get_setting

        return cls(
            response_ms=int(get_setting("ops.response_time_threshold_ms")),
            queue_backlog=int(get_setting("ops.queue_backlog_threshold")),
            disk_free_min_percent=int(get_setting("ops.disk_free_min_percent")),
            tls_warn_days=int(get_setting("ops.tls_expiry_warn_days")),
            backup_max_age_hours=int(get_setting("ops.backup_max_age_hours")),
        )


def timed(check: str, probe: Callable[[], tuple[CheckStatus, str]], slow_ms: int | None = None) -> CheckOutcome:
    """Runs a probe; an exception is the check failing (down), with the exception's kind as the reason."""
    started = time.perf_counter()
    try:
        status, detail = probe()
    except Exception as exc:
        status, detail = CheckStatus.DOWN, _reason(exc)
    latency = int((time.perf_counter() - started) * 1000)
    if status == CheckStatus.OK and slow_ms is not None and latency > slow_ms:
        status, detail = CheckStatus.DEGRADED, f"slow: {latency} ms (threshold {slow_ms} ms); {detail}"
    return CheckOutcome(check, status, latency, detail[:300])


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason  # "ConnectionRefusedError: ..." says more than "URLError: <urlopen error ...>"
    text = str(exc).splitlines()[0] if str(exc) else ""
    # Never echo a connection string: drivers put the URL (and password) in some messages.
    if "://" in text or "password" in text.lower():
        text = ""
    return f"{type(exc).__name__}{': ' + text if text else ''}"[:300]


# --- Network probes (run in threads) --------------------------------------------------------------------------


def probe_http(check: str, url: str, slow_ms: int, *, expect_json: bool) -> CheckOutcome:
    def probe() -> tuple[CheckStatus, str]:
        if not url.startswith(("https://", "http://")):
            return CheckStatus.DOWN, "PUBLIC_URL must be an http(s) URL"
        request = urllib.request.Request(url, headers={"User-Agent": "advancia-watchdog"})  # noqa: S310 (checked)
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
                code, body = response.status, response.read(65536)
        except urllib.error.HTTPError as exc:
            code, body = exc.code, exc.read(65536)
        if expect_json:
            # /api/health answers 503 when the app is up but its database is not: the app itself answered.
            try:
                reported = json.loads(body).get("status", "?")
            except ValueError:
                return CheckStatus.DOWN, f"HTTP {code}, not the health JSON"
            return CheckStatus.OK, f"HTTP {code}, reports {reported}"
        if code >= 500:
            return CheckStatus.DOWN, f"HTTP {code}"
        return CheckStatus.OK, f"HTTP {code}"

    return timed(check, probe, slow_ms)


def probe_tls(public_url: str, warn_days: int, *, cafile: str | None = None) -> CheckOutcome:
    parts = urlsplit(public_url)
    if parts.scheme != "https":
        return CheckOutcome("tls", CheckStatus.SKIPPED, None, "not applicable: PUBLIC_URL is not https")
    host, port = parts.hostname or "", parts.port or 443

    def probe() -> tuple[CheckStatus, str]:
        context = ssl.create_default_context(cafile=cafile)
        try:
            with (
                socket.create_connection((host, port), timeout=TCP_TIMEOUT) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
                cert = tls.getpeercert()
        except ssl.SSLCertVerificationError as exc:
            return CheckStatus.DOWN, f"certificate not valid: {exc.verify_message}"
        expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)
        days = (expires - datetime.now(UTC)).total_seconds() / 86400
        detail = f"certificate of {host} expires {expires:%Y-%m-%d} ({int(days)} days)"
        if days < 3:
            return CheckStatus.DOWN, detail
        return (CheckStatus.DEGRADED if days < warn_days else CheckStatus.OK), detail

    return timed("tls", probe)


def probe_tcp(check: str, host: str, port: int, slow_ms: int, expect_banner: bytes = b"") -> CheckOutcome:
    def probe() -> tuple[CheckStatus, str]:
        with socket.create_connection((host, port), timeout=TCP_TIMEOUT) as conn:
            if expect_banner:
                conn.settimeout(TCP_TIMEOUT)
                greeting = conn.recv(512)
                if not greeting.startswith(expect_banner):
                    return CheckStatus.DOWN, f"{host}:{port} answered {greeting[:40]!r}"
                conn.sendall(b"QUIT\r\n")
        return CheckStatus.OK, f"{host}:{port} reachable"

    return timed(check, probe, slow_ms)


def run_in_threads(probes: list[Callable[[], CheckOutcome]]) -> list[CheckOutcome]:
    if not probes:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(probes))) as pool:
        return list(pool.map(lambda probe: probe(), probes))


# --- Local probes (app context) ---------------------------------------------------------------------------------


def check_database(slow_ms: int) -> CheckOutcome:
    from sqlalchemy import select, text

    from app.automation.models import JobRun
    from app.extensions import db

    def probe() -> tuple[CheckStatus, str]:
        try:
            if db.engine.dialect.name == "postgresql":
                db.session.execute(text("SET LOCAL statement_timeout = 5000"))
            # A real read of a real table, through the same pool the app uses.
            db.session.execute(select(JobRun.id).order_by(JobRun.id.desc()).limit(1)).all()
        finally:
            db.session.rollback()
        return CheckStatus.OK, f"{db.engine.dialect.name} answered"

    return timed("database", probe, slow_ms)


def check_redis(redis_url: str, slow_ms: int) -> CheckOutcome:
    from app.ops.live import quick_redis

    def probe() -> tuple[CheckStatus, str]:
        quick_redis(redis_url, REDIS_TIMEOUT).ping()
        return CheckStatus.OK, "PING answered"

    return timed("redis", probe, slow_ms)


def check_workers(redis_url: str, backlog_threshold: int) -> CheckOutcome:
    from app.automation.queues import queue_overview

    def probe() -> tuple[CheckStatus, str]:
        overview = queue_overview(redis_url)
        alive = [w for w in overview.workers if w.alive]
        backlog = sum(q.size for q in overview.queues)
        detail = f"{len(alive)} worker(s) alive, {backlog} job(s) waiting"
        if overview.oldest_wait_seconds is not None:
            detail += f", oldest waiting {int(overview.oldest_wait_seconds)} s"
        if not alive:
            from rq import get_current_job

            if get_current_job() is not None:
                # rq workers register once, at start: after Redis restarts without its data they run jobs
                # unseen. This check itself runs on one, so jobs do run.
                return (
                    CheckStatus.DEGRADED,
                    "no worker registered, but this check runs on one: restart the "
                    "workers so they register again (did Redis lose its data?)",
                )
            return CheckStatus.DOWN, "no live worker (no heartbeat); " + detail
        if backlog > backlog_threshold:
            return CheckStatus.DEGRADED, f"backlog over {backlog_threshold}: " + detail
        return CheckStatus.OK, detail

    return timed("workers", probe)


def check_scheduler(redis_url: str) -> CheckOutcome:
    """Compares the tick with the wall clock (the tick is wall-clock time), whatever time the run is filed under."""
    from app.ops.live import quick_redis
    from workers.scheduler import SCHEDULER_TICK_KEY

    def probe() -> tuple[CheckStatus, str]:
        raw = quick_redis(redis_url, REDIS_TIMEOUT).get(SCHEDULER_TICK_KEY)
        if raw is None:
            return CheckStatus.DOWN, "the scheduler has not ticked (is `python -m workers.scheduler` running?)"
        age = time.time() - float(raw)
        if age > SCHEDULER_STALE_SECONDS:
            return CheckStatus.DOWN, f"last tick {int(age)} s ago"
        return CheckStatus.OK, f"last tick {max(0, int(age))} s ago"

    return timed("scheduler", probe)


def check_disk(paths: list[Path], min_free_percent: int) -> CheckOutcome:
    def probe() -> tuple[CheckStatus, str]:
        worst_status, worst_detail, worst_free = CheckStatus.OK, "", 101.0
        for path in paths:
            target = path if path.exists() else path.parent
            usage = shutil.disk_usage(target)
            free_percent = usage.free * 100 / usage.total
            if free_percent < worst_free:
                worst_free = free_percent
                worst_detail = f"{free_percent:.1f} % free ({usage.free // 2**20} MiB) at {path}"
                if free_percent < min(2, min_free_percent) or usage.free < 100 * 2**20:
                    worst_status = CheckStatus.DOWN
                elif free_percent < min_free_percent:
                    worst_status = CheckStatus.DEGRADED
                else:
                    worst_status = CheckStatus.OK
        return worst_status, worst_detail

    return timed("disk", probe)


def check_backups(max_age_hours: int, now: datetime) -> CheckOutcome:
    from app.ops.backups import latest_backup

    def probe() -> tuple[CheckStatus, str]:
        latest = latest_backup()
        if latest is None:
            return CheckStatus.DEGRADED, "no backup yet (the backups job runs at 04:00 UTC)"
        hours = (now - latest.created_at).total_seconds() / 3600
        detail = f"last backup {latest.name}, {hours:.1f} h old"
        if hours > 2 * max_age_hours:
            return CheckStatus.DOWN, detail
        return (CheckStatus.DEGRADED if hours > max_age_hours else CheckStatus.OK), detail

    return timed("backups", probe)
