"""Wakes a worker as soon as a web request has written webhook deliveries, instead of at the next 30 s tick."""

from __future__ import annotations

import logging

from flask import g, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.access.models import WebhookDelivery

log = logging.getLogger(__name__)
_WRITTEN = "webhook_deliveries_written"


@event.listens_for(Session, "after_flush")
def _note_new_deliveries(session: Session, flush_context) -> None:  # noqa: ANN001
    if has_request_context() and any(isinstance(obj, WebhookDelivery) for obj in session.new):
        setattr(g, _WRITTEN, True)


def kick_after_request(error: BaseException | None) -> None:
    """teardown_request: the view has committed (or rolled back: then the job finds nothing due, harmlessly)."""
    if error is None and g.pop(_WRITTEN, False):
        enqueue_delivery_run()


def enqueue_delivery_run() -> bool:
    """Queues one run of the webhook_delivery job. Redis being down is not the request's problem: the
    scheduled run delivers within 30 s of Redis coming back."""
    from app.queues import get_queue
    from workers.schedule import BY_NAME

    job = BY_NAME["webhook_delivery"]
    try:
        get_queue().enqueue(job.func, job_timeout=job.timeout, result_ttl=3600, description=job.name)
    except Exception as exc:  # noqa: BLE001 - any Redis failure
        log.warning("could not queue webhook delivery: %s", exc)
        return False
    return True
