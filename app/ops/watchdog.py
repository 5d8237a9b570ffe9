"""The watchdog run (every 2 minutes): run every check, store one row per check, roll the public components'
outcomes into daily uptime rows, open and resolve incidents behind a flap guard, alert on failing jobs, prune.

Safe to run twice at once: the daily rows are incremented in SQL, and the database allows one open incident
per check, so two racing runs open one incident and one alert between them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from app.db_types import utcnow
from app.extensions import db
from app.ops import checks
from app.ops.alerts import ONCE, deliver_slack_due, raise_alert
from app.ops.components import COMPONENTS, INTERNAL_CHECKS, affected_components, component_status
from app.ops.config import EXTERNAL_NAMES, backup_dir, external_endpoints, instance_dir, ops_env, public_url
from app.ops.direct_alerts import cache_alert_routing
from app.ops.incidents import last_incident_for, open_automatic_incident, open_incident_for, resolve_incident
from app.ops.live import quick_redis
from app.ops.models import CheckResult, CheckStatus, ComponentDay
from app.settings.service import get_setting

log = logging.getLogger(__name__)

CHECK_LABELS = {
    "web": "API health endpoint",
    "pages": "Web pages",
    "database": "Database",
    "redis": "Redis",
    "workers": "Background workers",
    "scheduler": "Job scheduler",
    "disk": "Disk space",
    "tls": "TLS certificate",
    "backups": "Backups",
    **{f"ext:{name}": label for name, label in EXTERNAL_NAMES.items()},
}
#: checks whose failure takes the product down for customers
MAJOR_CHECKS = {"web", "pages", "database"}
#: check -> the incident it shares with the checks that fail with it for one cause
INCIDENT_GROUPS = {"web": "web", "pages": "web", "redis": "jobs", "workers": "jobs", "scheduler": "jobs"}
GROUP_LABELS = {"web": "The web app", "jobs": "Background jobs"}


@dataclass
class WatchdogReport:
    checks: dict[str, str] = field(default_factory=dict)
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    job_alerts: list[str] = field(default_factory=list)
    pruned: int = 0
    slack: dict = field(default_factory=dict)
    #: False when Redis did not take the copy of the alert settings the database-outage path reads
    routing_cached: bool = True

    def summary(self) -> dict:
        down = sorted(name for name, status in self.checks.items() if status == CheckStatus.DOWN)
        degraded = sorted(name for name, status in self.checks.items() if status == CheckStatus.DEGRADED)
        result: dict = {"checks": len(self.checks)}
        if down:
            result["down"] = ", ".join(down)
        if degraded:
            result["degraded"] = ", ".join(degraded)
        if self.opened:
            result["incidents_opened"] = self.opened
        if self.resolved:
            result["incidents_resolved"] = self.resolved
        if self.job_alerts:
            result["job_alerts"] = self.job_alerts
        if self.pruned:
            result["pruned"] = self.pruned
        if not self.routing_cached:
            result["alert_routing"] = "not cached: Redis unreachable"
        return {**result, **self.slack}


def run_checks(now: datetime) -> list[checks.CheckOutcome]:
    limits = checks.Thresholds.from_settings()
    redis_url = current_app.config["REDIS_URL"]
    base = public_url()
    cafile = ops_env("OPS_TLS_CAFILE") or None
    endpoints = external_endpoints()
    network = [
        lambda: checks.probe_http("web", f"{base}/api/health", limits.response_ms, expect_json=True),
        lambda: checks.probe_http("pages", f"{base}/login", limits.response_ms, expect_json=False),
        lambda: checks.probe_tls(base, limits.tls_warn_days, cafile=cafile),
        *[
            (lambda e=e: checks.probe_tcp(f"ext:{e.name}", e.host, e.port, limits.response_ms, e.expect_banner))
            for e in endpoints
        ],
    ]
    outcomes = checks.run_in_threads(network)
    configured = {e.name for e in endpoints}
    outcomes += [
        checks.CheckOutcome(f"ext:{name}", CheckStatus.SKIPPED, None, "not configured")
        for name in EXTERNAL_NAMES
        if name not in configured
    ]
    outcomes += [
        checks.check_database(limits.response_ms),
        checks.check_redis(redis_url, limits.response_ms),
        checks.check_workers(redis_url, limits.queue_backlog),
        checks.check_scheduler(redis_url),
        checks.check_disk(_data_paths(), limits.disk_free_min_percent),
        checks.check_backups(limits.backup_max_age_hours, now),
    ]
    return outcomes


def _data_paths() -> list[Path]:
    paths = [instance_dir(), backup_dir()]
    database = db.engine.url.database if db.engine.dialect.name == "sqlite" else None
    if database:
        paths.append(Path(database).parent)
    return paths


def record_results(outcomes: list[checks.CheckOutcome], now: datetime) -> dict[str, CheckStatus]:
    db.session.add_all(
        CheckResult(checked_at=now, check=o.check, status=o.status, latency_ms=o.latency_ms, detail=o.detail)
        for o in outcomes
    )
    by_check = {o.check: o.status for o in outcomes}
    statuses = {c.key: component_status(c, by_check) for c in COMPONENTS}
    for key, status in statuses.items():
        if status != CheckStatus.SKIPPED:
            count_component_run(key, now.date(), status)
    return statuses


_RUN_COLUMN = {CheckStatus.OK: "ok_runs", CheckStatus.DEGRADED: "degraded_runs", CheckStatus.DOWN: "down_runs"}


def count_component_run(component: str, day, status: CheckStatus, runs: int = 1) -> None:  # noqa: ANN001
    """Adds runs to the component's day, in SQL (no read-modify-write), creating the row the first time."""
    column = getattr(ComponentDay, _RUN_COLUMN[status])
    where = (ComponentDay.day == day, ComponentDay.component == component)
    bump = update(ComponentDay).where(*where).values({column: column + runs})
    if db.session.execute(bump, execution_options={"synchronize_session": False}).rowcount:
        return
    try:
        with db.session.begin_nested():
            db.session.add(ComponentDay(day=day, component=component, **{_RUN_COLUMN[status]: runs}))
    except IntegrityError:  # another run created the day between our update and insert
        db.session.execute(bump, execution_options={"synchronize_session": False})


def _recent_statuses(check: str, n: int) -> list[CheckStatus]:
    return list(
        db.session.scalars(
            select(CheckResult.status)
            .where(CheckResult.check == check)
            .order_by(CheckResult.checked_at.desc(), CheckResult.id.desc())
            .limit(n)
        )
    )


def incident_group(check: str) -> str:
    """Checks that fail together for one cause share one incident (the web server down fails both HTTP checks;
    Redis down fails the workers and scheduler checks too): one incident, one alert."""
    return INCIDENT_GROUPS.get(check, check)


def apply_incident_rules(
    outcomes: list[checks.CheckOutcome],
    statuses_by_check: dict[str, CheckStatus],
    now: datetime,
    report,  # noqa: ANN001
) -> None:
    """A group with a check down for N runs in a row opens its incident; every check of the group not down for
    N runs resolves it (N = ops.flap_threshold, the flap guard)."""
    n = max(1, int(get_setting("ops.flap_threshold")))
    groups: dict[str, list[checks.CheckOutcome]] = {}
    for outcome in outcomes:
        groups.setdefault(incident_group(outcome.check), []).append(outcome)
    for group, members in groups.items():
        source = f"check:{group}"
        recent = {o.check: _recent_statuses(o.check, n) for o in members}
        failing = [o for o in members if len(recent[o.check]) == n and set(recent[o.check]) == {CheckStatus.DOWN}]
        recovered = all(len(r) == n and CheckStatus.DOWN not in r for r in recent.values())
        open_one = open_incident_for(source)
        if open_one is None and failing:
            if _closed_during_this_outage(failing, source):
                continue
            incident = _open_for_group(group, failing, statuses_by_check, source, n, now)
            if incident is not None:
                report.opened.append(incident.id)
        elif open_one is not None and recovered:
            label = GROUP_LABELS.get(group, CHECK_LABELS.get(group, group))
            resolve_incident(
                open_one,
                f"Resolved: {label} passed {n} consecutive automatic checks.",
                actor="watchdog",
                now=now,
            )
            report.resolved.append(open_one.id)


def _closed_during_this_outage(failing: list[checks.CheckOutcome], source: str) -> bool:
    """The operator resolved this group's incident while it was still failing: do not reopen it every run."""
    previous = last_incident_for(source)
    if previous is None or previous.resolved_at is None:
        return False
    last_good = db.session.scalar(
        select(func.max(CheckResult.checked_at)).where(
            CheckResult.check.in_([o.check for o in failing]), CheckResult.status != CheckStatus.DOWN
        )
    )
    return last_good is None or previous.resolved_at > last_good


def _open_for_group(group, failing, statuses_by_check, source: str, n: int, now: datetime):  # noqa: ANN001
    from app.ops.components import BY_KEY

    label = GROUP_LABELS.get(group, CHECK_LABELS.get(group, group))
    components: list[str] = []
    for outcome in failing:
        if outcome.check not in INTERNAL_CHECKS:
            components += [c for c in affected_components(outcome.check, statuses_by_check) if c not in components]
    components = [c for c in BY_KEY if c in components]
    details = "; ".join(f"{CHECK_LABELS.get(o.check, o.check)}: {o.detail}" for o in failing)
    if components:
        title = f"{', '.join(BY_KEY[c].name for c in components)}: service disruption"
        public_message = "Our automatic checks found a problem and we are investigating."
    else:
        title = f"{label} is failing"
        public_message = details
    return open_automatic_incident(
        source,
        title,
        components,
        public_message,
        f"{label} failed {n} checks in a row. {details}",
        impact="major" if any(o.check in MAJOR_CHECKS for o in failing) else "minor",
        now=now,
    )


def alert_failing_jobs(now: datetime, report) -> None:  # noqa: ANN001
    """One alert per streak of N failed runs of a job (the streak is named by its first failed run)."""
    from app.automation.models import JobRun, RunOutcome

    n = max(1, int(get_setting("ops.job_failure_alert_threshold")))
    names = db.session.scalars(
        select(JobRun.job_name).where(JobRun.started_at > now - timedelta(days=7)).distinct()
    ).all()
    for name in names:
        runs = db.session.execute(
            select(JobRun.id, JobRun.outcome, JobRun.error)
            .where(JobRun.job_name == name, JobRun.outcome != RunOutcome.RUNNING)
            .order_by(JobRun.started_at.desc(), JobRun.id.desc())
            .limit(n)
        ).all()
        if len(runs) < n or any(r.outcome != RunOutcome.FAILED for r in runs):
            continue
        # The streak is named by its first failure, so it keeps its name (and its one alert) while it grows.
        last_good = db.session.scalar(
            select(func.max(JobRun.id)).where(
                JobRun.job_name == name, JobRun.outcome.not_in((RunOutcome.FAILED, RunOutcome.RUNNING))
            )
        )
        first_failed = db.session.scalar(
            select(func.min(JobRun.id)).where(
                JobRun.job_name == name, JobRun.outcome == RunOutcome.FAILED, JobRun.id > (last_good or 0)
            )
        )
        last_error = (runs[0].error or "").strip().splitlines()[-1:] or [""]
        alert = raise_alert(
            "job.failing",
            f"{name}:{first_failed}",
            f"Job {name} failed {n} times in a row.\nLast error: {last_error[0][:300]}",
            context={"job": name},
            window_minutes=ONCE,
            now=now,
        )
        if alert is not None:
            report.job_alerts.append(name)


def prune_results(now: datetime) -> int:
    keep_days = int(get_setting("ops.check_results_retention_days"))
    result = db.session.execute(delete(CheckResult).where(CheckResult.checked_at < now - timedelta(days=keep_days)))
    return result.rowcount or 0


def refresh_alert_routing() -> bool:
    """Copies the operator's alert address and switches to Redis for app/ops/database_outage.py, which runs when
    the database cannot be read. Redis being down is the redis check's news, not a reason to fail the run."""
    try:
        cache_alert_routing(quick_redis(current_app.config["REDIS_URL"], checks.REDIS_TIMEOUT))
    except RedisError as exc:
        log.warning("could not cache the alert routing in Redis: %s", exc)
        return False
    return True


def run_watchdog(*, now: datetime | None = None, deliver: bool = True) -> WatchdogReport:
    """The job's body: check, record, decide, commit; then post due Slack alerts (which commits per message)."""
    now = now or utcnow()
    report = WatchdogReport()
    outcomes = run_checks(now)
    report.checks = {o.check: o.status for o in outcomes}
    record_results(outcomes, now)
    db.session.flush()
    apply_incident_rules(outcomes, report.checks, now, report)
    alert_failing_jobs(now, report)
    report.pruned = prune_results(now)
    db.session.commit()
    report.routing_cached = refresh_alert_routing()
    if deliver:
        report.slack = deliver_slack_due(now=now).summary()
    return report
