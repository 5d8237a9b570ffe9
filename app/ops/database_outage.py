"""The database's own outage: noticed before anything touches the database, told to the operator once, written
down as a resolved incident (with its real start and end, and its missed watchdog runs as down) once it is over.

The watchdog job calls guard_database() before anything else: `_recorded` writes a JobRun row first, and the
thresholds, the operator's address and the outbox all live in the database that may be down. The state of an
outage therefore lives in Redis, and every step is claimed with an atomic SET NX, so two workers running the
watchdog at once send one message between them:

  OUTAGE_KEY           the outage's start (ISO), set NX by the first run that finds the database down
  <start>:alerted      the run that wins it sends "unreachable"; given back if nothing could be delivered
  <start>:recovered    the run that wins it sends "reachable again"; holds the outage's end
  <start>:recorded     a lease: the run that wins it writes the incident, then deletes OUTAGE_KEY

The per-outage claims expire but are never deleted, so a run that read OUTAGE_KEY just before another run cleared
it cannot win a claim a second time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TypeVar

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from app.db_types import utcnow
from app.extensions import db
from app.ops.checks import REDIS_TIMEOUT, _reason
from app.ops.components import BY_KEY, COMPONENTS
from app.ops.direct_alerts import cached_alert_routing, send_direct
from app.ops.live import quick_redis
from app.ops.models import CheckStatus, ComponentDay

log = logging.getLogger(__name__)
T = TypeVar("T")

#: a database that takes longer than this to accept a connection and answer SELECT 1 counts as down
PROBE_TIMEOUT_SECONDS = 3
OUTAGE_KEY = "advancia:ops:db_outage:since"
#: per-outage claims outlive any outage worth alerting on; a longer one is reminded once a month
CLAIM_TTL = timedelta(days=30)
RECORD_LEASE = timedelta(minutes=2)
#: the flap guard: an outage is told once it has lasted this long, i.e. the next run (two minutes on) still finds
#: the database down; a blip one run saw is counted in the uptime but pages nobody
CONFIRM_AFTER = timedelta(seconds=60)
SOURCE_KEY = "outage:database"
#: public components that fail with the database
DATABASE_COMPONENTS = [c.key for c in COMPONENTS if "database" in c.checks]


class DatabaseUnreachable(RuntimeError):
    """Raised after the operator was told (or not, and why): the job run must show as failed."""


@dataclass
class DatabaseWatch:
    recovered_after: str | None = None
    incident_id: int | None = None

    def summary(self) -> dict:
        if self.recovered_after is None:
            return {}
        return {"database_recovered_after": self.recovered_after, "database_incident": self.incident_id}


def probe_database(url: str, timeout: int = PROBE_TIMEOUT_SECONDS) -> str | None:
    """None when the database answers, else why not (never the URL). A connection of its own, not the app's pool:
    the pool's connections carry no connect timeout and may be stale."""
    connect_args: dict = {}
    if url.startswith("postgresql"):
        connect_args = {"connect_timeout": timeout, "options": f"-c statement_timeout={timeout * 1000}"}
    elif url.startswith("sqlite"):
        connect_args = {"timeout": timeout}
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1")).scalar_one()
    except Exception as exc:
        return _reason(getattr(exc, "orig", None) or exc)
    finally:
        engine.dispose()
    return None


def guard_database(
    *, database_url: str | None = None, redis_url: str | None = None, now: datetime | None = None
) -> DatabaseWatch:
    """Raises DatabaseUnreachable (after alerting once per outage) when the database does not answer; when it
    answers after an outage, tells the operator and records the outage."""
    url = database_url or current_app.config["SQLALCHEMY_DATABASE_URI"]
    redis = quick_redis(redis_url or current_app.config["REDIS_URL"], REDIS_TIMEOUT)
    reason = probe_database(url)
    now = now or utcnow()
    if reason is not None:
        _database_down(redis, reason, now)
    return _database_up(redis, now)


def _claim(since: datetime, step: str) -> str:
    return f"{OUTAGE_KEY}:{since.isoformat()}:{step}"


def _database_down(redis: Redis, reason: str, now: datetime) -> None:
    try:
        redis.set(OUTAGE_KEY, now.isoformat(), nx=True)
        raw = redis.get(OUTAGE_KEY)
        since = datetime.fromisoformat(raw.decode()) if raw else now
        claim = _claim(since, "alerted")
        headline = f"Database unreachable since {_when(since)}"
        if now - since < CONFIRM_AFTER:
            raise DatabaseUnreachable(f"{headline} ({reason}); the operator is told if the next run finds it down too")
        if not redis.set(claim, now.isoformat(), nx=True, ex=CLAIM_TTL):
            raise DatabaseUnreachable(f"{headline} ({reason}); the operator was told when it started")
        routing = cached_alert_routing(redis)
    except RedisError as exc:
        log.critical(
            "DATABASE AND REDIS BOTH UNREACHABLE: database: %s; Redis: %s. The watchdog can neither record nor "
            "de-duplicate an alert, so it tells nobody: check both servers now.",
            reason,
            _reason(exc),
        )
        raise DatabaseUnreachable(f"Database ({reason}) and Redis ({_reason(exc)}) both unreachable") from exc
    message = (
        f"{headline}\n{reason}\n"
        "Pages, the API, payments and every job that needs the database fail until it answers again."
    )
    delivery = send_direct(headline, message, routing, icon=":rotating_light:")
    if not delivery.delivered:
        # Nobody heard it: give the claim back so the next run (two minutes on) tries again.
        try:
            redis.delete(claim)
        except RedisError:
            log.warning("could not give back %s; this outage will not be alerted again", claim)
    raise DatabaseUnreachable(f"{headline} ({reason}); {delivery.describe()}")


def _database_up(redis: Redis, now: datetime) -> DatabaseWatch:
    try:
        raw = redis.get(OUTAGE_KEY)
    except RedisError as exc:
        # The watchdog's own redis check reports this; an outage in Redis's keeping waits for Redis.
        log.warning("could not read the database outage state from Redis: %s", _reason(exc))
        return DatabaseWatch()
    if raw is None:
        return DatabaseWatch()
    since = datetime.fromisoformat(raw.decode())
    if not redis.exists(_claim(since, "alerted")):
        return _forget_blip(redis, since, now)
    recovered = _claim(since, "recovered")
    if redis.set(recovered, now.isoformat(), nx=True, ex=CLAIM_TTL):
        end = now
        headline = f"Database reachable again after {_duration(end - since)}"
        message = f"{headline}\nIt was unreachable from {_when(since)} to {_when(end)}."
        send_direct(headline, message, cached_alert_routing(redis), icon=":white_check_mark:")
    else:
        stored = redis.get(recovered)
        end = datetime.fromisoformat(stored.decode()) if stored else now
    return _record_once(redis, since, end)


def _record_once(redis: Redis, since: datetime, end: datetime) -> DatabaseWatch:
    """Writes the outage down as an incident, once."""
    incident_id = _write_once(redis, since, lambda: record_database_outage(since, end))
    if incident_id is None:
        return DatabaseWatch()
    return DatabaseWatch(recovered_after=_duration(end - since), incident_id=incident_id)


def _forget_blip(redis: Redis, since: datetime, now: datetime) -> DatabaseWatch:
    """Down for one run only, nobody told: its run counts as down in the uptime, without an incident or a message."""
    _write_once(redis, since, lambda: _count_missed_runs(_monitored_database_components(since), since, now))
    return DatabaseWatch()


def _write_once(redis: Redis, since: datetime, write: Callable[[], T]) -> T | None:
    """Runs `write` and commits under the outage's `recorded` lease, then ends the outage's state; None when another
    run holds or held the lease. A run that fails here gives the lease back and leaves it to the next run."""
    recorded = _claim(since, "recorded")
    if not redis.set(recorded, "writing", nx=True, ex=RECORD_LEASE):
        return None
    try:
        result = write()
        db.session.commit()
    except Exception:
        db.session.rollback()
        redis.delete(recorded)
        raise
    pipe = redis.pipeline(transaction=True)
    pipe.set(recorded, "done", ex=CLAIM_TTL)
    pipe.delete(OUTAGE_KEY)
    pipe.execute()
    return result


def _count_missed_runs(components: list[str], since: datetime, end: datetime) -> None:
    from app.ops.watchdog import count_component_run

    for day, runs in missed_runs_by_day(since, end, _watchdog_interval()).items():
        for component in components:
            count_component_run(component, day, CheckStatus.DOWN, runs=runs)


def record_database_outage(since: datetime, end: datetime) -> int:
    """A resolved public incident from `since` to `end`, and the watchdog runs the outage swallowed counted as down
    for each public component that needs the database (uptime reads only those counts)."""
    from app.ops.incidents import record_past_incident

    components = _monitored_database_components(since)
    _count_missed_runs(components, since, end)
    names = ", ".join(BY_KEY[c].name for c in components)
    incident = record_past_incident(
        SOURCE_KEY,
        f"{names}: service disruption",
        components,
        "Our database could not be reached: the dashboard, the API and payments were unavailable.",
        f"Resolved: the database answered again after {_duration(end - since)}.",
        impact="major",
        opened_at=since,
        resolved_at=end,
    )
    return incident.id


def _monitored_database_components(since: datetime) -> list[str]:
    """The database-backed components the watchdog counted just before the outage (unconfigured rails stay
    unmonitored); the API and the dashboard always are."""
    counted = select(ComponentDay.component).where(
        ComponentDay.day >= since.date() - timedelta(days=1), ComponentDay.component.in_(DATABASE_COMPONENTS)
    )
    recent = set(db.session.scalars(counted.distinct()))
    return [c for c in DATABASE_COMPONENTS if c in recent | {"api", "dashboard"}]


def missed_runs_by_day(since: datetime, end: datetime, interval_seconds: int) -> dict:
    """Watchdog runs per UTC day that found the database down (at least the one that noticed it)."""
    runs: dict = {}
    day = since.date()
    while day <= end.date():
        start_of_day = datetime.combine(day, time.min, tzinfo=since.tzinfo)
        overlap = min(end, start_of_day + timedelta(days=1)) - max(since, start_of_day)
        count = math.ceil(overlap.total_seconds() / interval_seconds)
        if count > 0:
            runs[day] = count
        day += timedelta(days=1)
    return runs or {since.date(): 1}


def _watchdog_interval() -> int:
    from workers.schedule import SCHEDULE

    return next(job.interval for job in SCHEDULE if job.name == "health_watchdog") or 120


def _when(moment: datetime) -> str:
    # UTC: the operator's timezone is a setting, in the database that is down.
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _duration(elapsed: timedelta) -> str:
    seconds = max(0, int(elapsed.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
