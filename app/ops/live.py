"""Live probes cheap enough for every request: the database and Redis, with short timeouts.

/api/health and the status page use these; the watchdog's slower checks live in checks.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.ops.models import CheckStatus

#: a failing Redis must answer "down" within a second, not after the client's retries
QUICK_TIMEOUT = 1.0
#: the response-time threshold is a setting; read it at most this often, and never let it fail a probe
_THRESHOLD_TTL = 60.0
_threshold_cache: dict[str, float] = {}


@lru_cache(maxsize=16)
def quick_redis(url: str, timeout: float = QUICK_TIMEOUT) -> Redis:
    return Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


@dataclass(frozen=True)
class Probe:
    status: CheckStatus
    latency_ms: int


def _timed(probe) -> Probe:  # noqa: ANN001
    started = time.perf_counter()
    try:
        probe()
        status = CheckStatus.OK
    except Exception:
        status = CheckStatus.DOWN
    return Probe(status, int((time.perf_counter() - started) * 1000))


def probe_database() -> Probe:
    from sqlalchemy import text

    from app.extensions import db

    def probe() -> None:
        try:
            if db.engine.dialect.name == "postgresql":
                db.session.execute(text("SET LOCAL statement_timeout = 1000"))
            db.session.execute(text("SELECT 1")).scalar_one()
        finally:
            db.session.rollback()

    return _timed(probe)


def probe_redis(redis_url: str) -> Probe:
    return _timed(lambda: quick_redis(redis_url).ping())


def response_threshold_ms() -> int:
    cached = _threshold_cache.get("value")
    if cached is not None and time.monotonic() - _threshold_cache["at"] < _THRESHOLD_TTL:
        return int(cached)
    try:
        from app.settings.service import get_setting

        value = int(get_setting("ops.response_time_threshold_ms"))
    except Exception:
        from app.extensions import db

        db.session.rollback()
        value = 500
    _threshold_cache.update(value=value, at=time.monotonic())
    return value


def health_report(redis_url: str) -> dict:
    """{"status": ok|degraded|down, "checks": {...}}: down when the database is, degraded when Redis is down
    (pages and the API still work; background jobs wait) or either answers slower than the threshold."""
    database = probe_database()
    redis = probe_redis(redis_url)
    slow = response_threshold_ms() if database.status == CheckStatus.OK else 500
    checks = {}
    for name, probe in (("database", database), ("redis", redis)):
        status = probe.status
        if status == CheckStatus.OK and probe.latency_ms > slow:
            status = CheckStatus.DEGRADED
        checks[name] = {"status": status.value, "latency_ms": probe.latency_ms}
    if checks["database"]["status"] == CheckStatus.DOWN:
        overall = "down"
    elif any(c["status"] != CheckStatus.OK for c in checks.values()):
        overall = "degraded"
    else:
        overall = "ok"
    return {"status": overall, "checks": checks}
