"""What rq holds right now: queues, workers (with heartbeats) and failed jobs, and requeuing a failed job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from rq import Queue, Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result

#: the queue every scheduled job runs on (workers/scheduler.py)
QUEUE_NAMES = ("default",)
#: rq heartbeats about every worker_ttl - 15 s when idle; past worker_ttl + 60 s its key would have expired
HEARTBEAT_GRACE_SECONDS = 60


class FailedJobNotFound(LookupError):
    """The job is not in the failed registry (already requeued, expired, or never failed)."""


@dataclass(frozen=True)
class QueueInfo:
    name: str
    size: int
    started: int
    failed: int
    scheduled: int


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    state: str
    queues: list[str]
    current_job: str | None
    last_heartbeat: datetime | None
    alive: bool
    successful_jobs: int
    failed_jobs: int


@dataclass(frozen=True)
class QueueOverview:
    queues: list[QueueInfo]
    workers: list[WorkerInfo]
    #: age of the oldest job waiting in any queue
    oldest_wait_seconds: float | None


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    description: str
    func_name: str
    enqueued_at: datetime | None
    ended_at: datetime | None
    traceback: str


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _queues(connection: Redis) -> list[Queue]:
    names = set(QUEUE_NAMES) | {q.name for q in Queue.all(connection=connection)}
    return [Queue(name, connection=connection) for name in sorted(names)]


def queue_overview(redis_url: str, now: datetime | None = None) -> QueueOverview:
    connection = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    now = now or datetime.now(UTC)
    queues, oldest = [], None
    for queue in _queues(connection):
        queues.append(
            QueueInfo(
                queue.name,
                queue.count,
                queue.started_job_registry.count,
                queue.failed_job_registry.count,
                queue.scheduled_job_registry.count,
            )
        )
        first = queue.get_job_ids(0, 1)
        job = Job.fetch(first[0], connection=connection) if first else None
        if job is not None and job.enqueued_at is not None:
            wait = (now - _aware(job.enqueued_at)).total_seconds()
            oldest = wait if oldest is None else max(oldest, wait)
    workers = []
    for worker in Worker.all(connection=connection):
        heartbeat = _aware(worker.last_heartbeat)
        limit = worker.worker_ttl + HEARTBEAT_GRACE_SECONDS
        alive = heartbeat is not None and (now - heartbeat).total_seconds() < limit
        workers.append(
            WorkerInfo(
                worker.name,
                worker.get_state(),
                worker.queue_names(),
                worker.get_current_job_id(),
                heartbeat,
                alive,
                worker.successful_job_count,
                worker.failed_job_count,
            )
        )
    workers.sort(key=lambda w: w.name)
    return QueueOverview(queues, workers, oldest)


def failed_jobs(redis_url: str, limit: int = 50) -> list[FailedJob]:
    connection = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    found: list[FailedJob] = []
    for queue in _queues(connection):
        registry = FailedJobRegistry(queue=queue)
        ids = registry.get_job_ids(0, limit - 1, desc=True)
        for job in Job.fetch_many(ids, connection=connection):
            if job is not None:
                found.append(_failed_job(job, queue.name))
    found.sort(key=lambda j: j.ended_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    return found[:limit]


def failed_job(redis_url: str, job_id: str) -> FailedJob:
    connection = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    for queue in _queues(connection):
        if job_id in FailedJobRegistry(queue=queue):
            try:
                return _failed_job(Job.fetch(job_id, connection=connection), queue.name)
            except NoSuchJobError:
                break
    raise FailedJobNotFound(job_id)


def _failed_job(job: Job, queue_name: str) -> FailedJob:
    result = job.latest_result()
    traceback = result.exc_string if result is not None and result.type == Result.Type.FAILED else ""
    return FailedJob(
        job.id,
        queue_name,
        job.description or job.func_name or job.id,
        job.func_name or "",
        _aware(job.enqueued_at),
        _aware(job.ended_at),
        traceback or "(rq kept no traceback for this job)",
    )


def requeue_failed_job(redis_url: str, job_id: str) -> Job:
    """Puts a failed job back on its queue; a worker runs it again with the same arguments."""
    connection = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    for queue in _queues(connection):
        registry = FailedJobRegistry(queue=queue)
        if job_id in registry:
            try:
                return registry.requeue(job_id)
            except (InvalidJobOperation, NoSuchJobError) as exc:
                raise FailedJobNotFound(job_id) from exc
    raise FailedJobNotFound(job_id)
