"""Redis connection and RQ queues, built from REDIS_URL."""

from __future__ import annotations

from functools import lru_cache

from redis import Redis
from rq import Queue

DEFAULT_QUEUE = "default"


@lru_cache(maxsize=8)
def redis_for(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def get_redis() -> Redis:
    from flask import current_app

    return redis_for(current_app.config["REDIS_URL"])


def get_queue(name: str = DEFAULT_QUEUE) -> Queue:
    return Queue(name, connection=get_redis())
