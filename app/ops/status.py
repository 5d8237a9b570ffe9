"""The public status: each component's state now, its uptime over 7/30/90 days and a 90-day strip, incidents,
and the operator's note. One dict feeds /status (HTML) and /status.json.

"Now" is the latest watchdog run corrected by live probes of the database and Redis, so a Redis outage shows at
once even though the watchdog (a job) cannot run during it. The last good answer is kept in memory and in a file
under instance/, and served, marked stale, when the database cannot be read.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from app.db_types import utcnow
from app.extensions import db
from app.ops.components import BY_KEY, COMPONENTS, component_status, worst
from app.ops.config import instance_dir, ops_env
from app.ops.live import probe_redis
from app.ops.models import CheckResult, CheckStatus, ComponentDay, Incident, IncidentStatus
from app.settings.service import get_setting

log = logging.getLogger(__name__)

HISTORY_DAYS = 90
#: the watchdog runs every 2 minutes; three missed runs mean the background jobs are not running
STALE_AFTER = timedelta(minutes=6)
#: a day is "major" on the strip when this share of its runs were down (about 14 minutes)
MAJOR_DAY_SHARE = Decimal("0.01")
#: a day with any down run is "minor"; slow runs make it minor only past this share (a few slow minutes do not)
SLOW_DAY_SHARE = Decimal("0.05")
PAST_INCIDENTS = 20
STATE_LABELS = {
    "ok": "Operational",
    "degraded": "Degraded performance",
    "down": "Outage",
    "skipped": "Not monitored",
}
_memory: dict = {}
_lock = threading.Lock()


def _percent(up: int, total: int) -> str | None:
    """Two decimals, rounded down: 99.996 % up is shown as 99.99, never as 100.00."""
    if total == 0:
        return None
    return str((Decimal(up * 100) / Decimal(total)).quantize(Decimal("0.01"), rounding=ROUND_DOWN))


def _day_state(ok: int, degraded: int, down: int) -> str:
    total = ok + degraded + down
    if total == 0:
        return "none"
    if down and Decimal(down) / Decimal(total) >= MAJOR_DAY_SHARE:
        return "major"
    if down or Decimal(degraded) / Decimal(total) >= SLOW_DAY_SHARE:
        return "minor"
    return "ok"


def _latest_results(now: datetime) -> tuple[datetime | None, dict[str, CheckStatus]]:
    latest = db.session.scalar(select(func.max(CheckResult.checked_at)))
    if latest is None:
        return None, {}
    rows = db.session.execute(select(CheckResult.check, CheckResult.status).where(CheckResult.checked_at == latest))
    return latest, {check: status for check, status in rows}


def _uptime(today: date) -> dict[str, dict]:
    """Plain rows, not ORM objects: 8 components x 90 days is read on every uncached status build."""
    first = today - timedelta(days=HISTORY_DAYS - 1)
    rows = db.session.execute(
        select(
            ComponentDay.component,
            ComponentDay.day,
            ComponentDay.ok_runs,
            ComponentDay.degraded_runs,
            ComponentDay.down_runs,
        ).where(ComponentDay.day >= first)
    )
    by_component: dict[str, dict[date, tuple[int, int, int]]] = {}
    for component, day, ok, degraded, down in rows:
        by_component.setdefault(component, {})[day] = (ok, degraded, down)
    result = {}
    for component in COMPONENTS:
        days = by_component.get(component.key, {})
        strip = []
        for offset in range(HISTORY_DAYS - 1, -1, -1):
            day = today - timedelta(days=offset)
            ok, degraded, down = days.get(day, (0, 0, 0))
            strip.append(
                {
                    "date": day.isoformat(),
                    "state": _day_state(ok, degraded, down),
                    "uptime": _percent(ok + degraded, ok + degraded + down),
                }
            )
        windows = {}
        for window in (7, 30, 90):
            picked = [counts for d, counts in days.items() if d > today - timedelta(days=window)]
            up = sum(ok + degraded for ok, degraded, _ in picked)
            windows[f"{window}d"] = _percent(up, up + sum(down for _, _, down in picked))
        result[component.key] = {**windows, "days": strip}
    return result


def _incident_dict(incident: Incident) -> dict:
    return {
        "id": incident.id,
        "title": incident.title,
        "status": incident.status.value,
        "impact": incident.impact.value,
        "components": [BY_KEY[c].name for c in incident.components if c in BY_KEY],
        "opened_at": incident.opened_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "updates": [
            {"status": u.status.value, "message": u.message, "at": u.created_at.isoformat()} for u in incident.updates
        ],
    }


def _incidents(now: datetime) -> tuple[list[dict], list[dict]]:
    since = now - timedelta(days=HISTORY_DAYS)
    rows = db.session.scalars(
        select(Incident)
        .options(selectinload(Incident.updates))
        .where(
            Incident.public.is_(True),
            or_(Incident.status != IncidentStatus.RESOLVED, Incident.resolved_at >= since),
        )
        .order_by(Incident.opened_at.desc(), Incident.id.desc())
        .limit(PAST_INCIDENTS + 20)
    ).all()
    current = [_incident_dict(i) for i in rows if i.is_open]
    past = [_incident_dict(i) for i in rows if not i.is_open][:PAST_INCIDENTS]
    return current, past


def build_status(now: datetime | None = None) -> dict:
    now = now or utcnow()
    latest, by_check = _latest_results(now)
    redis = probe_redis(current_app.config["REDIS_URL"])
    notes: dict[str, str] = {}
    if redis.status == CheckStatus.DOWN:
        # Live: jobs cannot be queued or run while Redis is down, whatever the last watchdog run saw.
        by_check.update(redis=CheckStatus.DOWN, workers=CheckStatus.DOWN, scheduler=CheckStatus.DOWN)
        notes["jobs"] = "Background jobs are paused: their queue is not reachable."
    by_check["database"] = CheckStatus.OK  # we are reading it
    stale = latest is None or now - latest > STALE_AFTER
    uptime = _uptime(now.date())
    components = []
    for component in COMPONENTS:
        status = component_status(component, by_check)
        if component.key == "jobs" and stale and status != CheckStatus.DOWN:
            status = CheckStatus.DEGRADED
            notes.setdefault("jobs", "Automatic checks are delayed; the job runner may be behind.")
        components.append(
            {
                "key": component.key,
                "name": component.name,
                "group": component.group,
                "status": status.value,
                "label": STATE_LABELS[status.value],
                "note": notes.get(component.key, ""),
                "uptime": {w: uptime[component.key][w] for w in ("7d", "30d", "90d")},
                "days": uptime[component.key]["days"],
            }
        )
    current, past = _incidents(now)
    monitored = [CheckStatus(c["status"]) for c in components if c["status"] != CheckStatus.SKIPPED]
    overall = worst(monitored)
    maintenance = any(i["impact"] == "maintenance" for i in current)
    return {
        "status": {"ok": "operational", "degraded": "degraded", "down": "outage"}.get(overall.value, "unknown"),
        "maintenance": maintenance,
        "generated_at": now.isoformat(),
        "checked_at": latest.isoformat() if latest else None,
        "stale": False,
        "note": (get_setting("ops.status_note") or "").strip(),
        "uptime_target": str(get_setting("ops.uptime_target_percent")),
        "components": components,
        "incidents": {"current": current, "past": past},
    }


def _cache_file() -> Path:
    return instance_dir() / "ops" / "status.json"


def _write_cache_file(payload: dict) -> None:
    path = _cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".status.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(payload))
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    except OSError:
        log.warning("could not write the status cache file %s", path)


def _last_known() -> dict | None:
    if "payload" in _memory:
        return _memory["payload"]
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return None


def _as_stale(payload: dict, now: datetime) -> dict:
    """The last good answer, told as such: the database is down, so the pages and API that need it are too."""
    stale = json.loads(json.dumps(payload))
    stale.update(stale=True, stale_since=payload.get("generated_at"), generated_at=now.isoformat(), status="outage")
    for component in stale["components"]:
        if component["status"] != CheckStatus.SKIPPED:
            component.update(status="down", label=STATE_LABELS["down"])
            component["note"] = "Our database is not answering."
    return stale


def cache_seconds() -> float:
    return float(ops_env("OPS_STATUS_CACHE_SECONDS", "5") or 5)


def current_status() -> dict:
    """The status, rebuilt at most every OPS_STATUS_CACHE_SECONDS per process; the last known one if the
    database fails, or a bare "unknown" answer if there has never been one."""
    ttl = cache_seconds()
    with _lock:
        if "payload" in _memory and time.monotonic() - _memory["at"] < ttl:
            return _memory["payload"]
    now = utcnow()
    try:
        payload = build_status(now)
    except Exception:
        db.session.rollback()
        log.exception("status: building from the database failed; serving the last known state")
        known = _last_known()
        if known is None:
            return {
                "status": "unknown",
                "stale": True,
                "generated_at": now.isoformat(),
                "checked_at": None,
                "note": "",
                "components": [],
                "incidents": {"current": [], "past": []},
                "maintenance": False,
                "uptime_target": "",
                "stale_since": None,
            }
        return _as_stale(known, now)
    with _lock:
        _memory.update(payload=payload, at=time.monotonic())
    _write_cache_file(payload)
    return payload


def forget_cached_status() -> None:
    """After the operator changes an incident or the note, the next page shows it at once (in this process)."""
    with _lock:
        _memory.clear()
