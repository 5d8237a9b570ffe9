"""Registers SCHEDULE with rq-scheduler (idempotently) and runs the scheduler loop.

Run as `python -m workers.scheduler` (REDIS_URL from the environment, as for the web app).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq_scheduler import Scheduler

from workers.schedule import SCHEDULE, ScheduledJob

log = logging.getLogger("advancia.scheduler")
QUEUE_NAME = "default"
RESULT_TTL = 24 * 3600
#: the time of the scheduler's last pass, read by the watchdog's scheduler check
SCHEDULER_TICK_KEY = "advancia:scheduler:last_tick"
#: the longest wait between reconnection attempts while Redis is down
MAX_RECONNECT_WAIT = 30.0


class TickingScheduler(Scheduler):
    """rq-scheduler that records each pass (so the watchdog can tell it is alive) and puts the schedule back
    when Redis comes back empty (a restart without persistence), so jobs resume on their own."""

    def enqueue_jobs(self):  # noqa: ANN201
        if not self.connection.exists(self.scheduled_jobs_key):
            changes = register_schedule(self)
            log.warning("schedule was missing from Redis; registered %d jobs again", len(changes["added"]))
        jobs = super().enqueue_jobs()
        self.connection.set(SCHEDULER_TICK_KEY, time.time(), ex=24 * 3600)
        return jobs


def register_schedule(scheduler: Scheduler, jobs: tuple[ScheduledJob, ...] = SCHEDULE) -> dict[str, list[str]]:
    """Adds what is new, removes what was dropped or changed, leaves the rest alone."""
    wanted = {job.schedule_id: job for job in jobs}
    existing = {job.id for job in scheduler.get_jobs()}
    removed = []
    for job_id in existing - wanted.keys():
        if job_id.startswith("advancia-"):
            scheduler.cancel(job_id)
            removed.append(job_id)
    added = []
    for schedule_id, job in wanted.items():
        if schedule_id in existing:
            continue
        common = {
            "id": schedule_id,
            "queue_name": QUEUE_NAME,
            "timeout": job.timeout,
            "result_ttl": RESULT_TTL,
            "description": job.name,
        }
        if job.interval:
            scheduler.schedule(datetime.now(UTC), job.func, interval=job.interval, repeat=None, **common)
        else:
            scheduler.cron(job.cron, job.func, repeat=None, use_local_timezone=False, **common)
        added.append(schedule_id)
    return {"added": added, "removed": removed}


def next_runs(scheduler: Scheduler) -> dict[str, datetime]:
    """The next run of every registered job, by job name, for the automation screen."""
    result = {}
    for job, when in scheduler.get_jobs(with_times=True):
        name = job.description or job.id
        result[name] = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    return result


def scheduler_for(redis_url: str, interval: int = 5) -> Scheduler:
    return TickingScheduler(queue_name=QUEUE_NAME, connection=Redis.from_url(redis_url), interval=interval)


def main() -> None:
    from app.config import load_settings

    # rq-scheduler's crontab notice, once per cron job; we always schedule in UTC.
    warnings.filterwarnings("ignore", message="Version 0.22.0", category=FutureWarning)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s scheduler %(message)s")
    redis_url = load_settings().redis_url
    interval = int(os.environ.get("SCHEDULER_INTERVAL", "5"))
    wait = 1.0
    # Redis going away must not end the process (`make run` stops everything when one child exits): wait for it.
    while True:
        scheduler = scheduler_for(redis_url, interval=interval)
        try:
            changes = register_schedule(scheduler)
            log.info(
                "schedule: %d jobs, added %d, removed %d", len(SCHEDULE), len(changes["added"]), len(changes["removed"])
            )
            wait = 1.0
            scheduler.run()
            return
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("Redis is not answering (%s); trying again in %.0f s", exc, wait)
            time.sleep(wait)
            wait = min(wait * 2, MAX_RECONNECT_WAIT)


if __name__ == "__main__":
    main()
