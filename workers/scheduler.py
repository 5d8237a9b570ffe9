"""Registers SCHEDULE with rq-scheduler (idempotently) and runs the scheduler loop.

Run as `python -m workers.scheduler` (REDIS_URL from the environment, as for the web app).
"""

from __future__ import annotations

import logging
import os
import warnings
from datetime import UTC, datetime

from redis import Redis
from rq_scheduler import Scheduler

from workers.schedule import SCHEDULE, ScheduledJob

log = logging.getLogger("advancia.scheduler")
QUEUE_NAME = "default"
RESULT_TTL = 24 * 3600


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
    return Scheduler(queue_name=QUEUE_NAME, connection=Redis.from_url(redis_url), interval=interval)


def main() -> None:
    from app.config import load_settings

    # rq-scheduler's crontab notice, once per cron job; we always schedule in UTC.
    warnings.filterwarnings("ignore", message="Version 0.22.0", category=FutureWarning)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s scheduler %(message)s")
    redis_url = load_settings().redis_url
    scheduler = scheduler_for(redis_url, interval=int(os.environ.get("SCHEDULER_INTERVAL", "5")))
    changes = register_schedule(scheduler)
    log.info("schedule: %d jobs, added %d, removed %d", len(SCHEDULE), len(changes["added"]), len(changes["removed"]))
    scheduler.run()


if __name__ == "__main__":
    main()
