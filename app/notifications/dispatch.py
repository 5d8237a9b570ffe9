"""Waking a worker as soon as a transaction that queued email commits, instead of at the next 30 s tick.

outbox.queue_email marks the session; after the commit we enqueue one delivery job. Only with an SMTP server
configured (without one the scheduled run holds the mail anyway), at most once a second (a job that queues
mail for 2,000 invoices commits 2,000 times), and never at the cost of the commit: Redis down means the
scheduled run delivers instead.
"""

from __future__ import annotations

import logging

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

SESSION_FLAG = "advancia_outbox_email_queued"
KICK_KEY = "advancia:outbox:kick"
DELIVERY_JOB = "workers.jobs.outbox_delivery"


def mark_email_queued(session: Session) -> None:
    session.info[SESSION_FLAG] = True


def enqueue_delivery() -> bool:
    """Queues one delivery job now; False when one was queued in the last second."""
    from app.queues import get_queue, get_redis

    if not get_redis().set(KICK_KEY, 1, nx=True, px=1000):
        return False
    get_queue().enqueue(DELIVERY_JOB, job_timeout=600, result_ttl=3600, description="outbox_delivery")
    return True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Releasing a SAVEPOINT fires after_commit too; only the real commit makes the mail visible to a worker.
    if session.in_nested_transaction() or not session.info.pop(SESSION_FLAG, False):
        return
    if not has_app_context() or not current_app.config.get("SMTP_HOST"):
        return
    try:
        enqueue_delivery()
    except Exception:  # Redis unreachable: the scheduled run (every 30 s) delivers it
        log.warning("could not wake a worker for new email; the scheduled run will deliver it", exc_info=True)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(SESSION_FLAG, None)
