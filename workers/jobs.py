"""Thin job functions: open the app, call a service, record the run. Safe to run twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rq import get_current_job

from workers.context import app_context


def _recorded(job_name: str, body: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    from app.automation.service import run_recorded

    rq_job = get_current_job()
    with app_context():
        run = run_recorded(job_name, body, rq_job_id=rq_job.id if rq_job else None)
        return {"run_id": run.id, "outcome": run.outcome.value, **run.summary}


def _not_built_yet(capability: str) -> Callable[[], dict[str, Any]]:
    """A job whose body arrives with a later capability: it does nothing and says so in its run record."""

    def body() -> dict[str, Any]:
        return {"noop": True, "reason": f"not built yet: arrives with {capability}"}

    return body


def crypto_monitor() -> dict[str, Any]:
    return _recorded("crypto_monitor", _not_built_yet("the crypto payments capability"))


def health_watchdog() -> dict[str, Any]:
    from app.ops.database_outage import guard_database
    from app.ops.watchdog import run_watchdog

    # Before _recorded, which writes a JobRun row first: when the database is down this raises (the rq job fails)
    # after telling the operator directly, once per outage.
    with app_context():
        watch = guard_database()
    return _recorded("health_watchdog", lambda: {**watch.summary(), **run_watchdog().summary()})


def bank_sync() -> dict[str, Any]:
    return _recorded("bank_sync", _not_built_yet("the bank reconciliation capability"))


def subscription_renewals() -> dict[str, Any]:
    from app.billing.renewals import run_renewals
    from app.db_types import utcnow

    return _recorded("subscription_renewals", lambda: run_renewals(utcnow()))


def trial_cleanup() -> dict[str, Any]:
    from app.billing.trials import end_expired_trials
    from app.db_types import utcnow

    return _recorded("trial_cleanup", lambda: end_expired_trials(utcnow()))


def backups() -> dict[str, Any]:
    from app.ops.backup_job import run_backups

    return _recorded("backups", lambda: run_backups().summary())


def churn_analysis() -> dict[str, Any]:
    return _recorded("churn_analysis", _not_built_yet("the SaaS metrics capability"))


def revenue_report() -> dict[str, Any]:
    return _recorded("revenue_report", _not_built_yet("the SaaS metrics capability"))


def dunning() -> dict[str, Any]:
    from app.billing.dunning import run_dunning
    from app.db_types import utcnow

    return _recorded("dunning", lambda: run_dunning(utcnow()))


def invoice_auto_send() -> dict[str, Any]:
    from app.billing.reminders import run_invoice_auto_send
    from app.db_types import utcnow

    return _recorded("invoice_auto_send", lambda: run_invoice_auto_send(utcnow()))


def accounting_sync() -> dict[str, Any]:
    return _recorded("accounting_sync", _not_built_yet("the accounting sync capability"))


def webhook_delivery() -> dict[str, Any]:
    def body() -> dict[str, Any]:
        from app.access.delivery import deliver_due_webhooks

        return deliver_due_webhooks()

    return _recorded("webhook_delivery", body)


def outbox_delivery() -> dict[str, Any]:
    from app.notifications.delivery import deliver_due

    return _recorded("outbox_delivery", lambda: deliver_due().summary())


def alert_delivery() -> dict[str, Any]:
    """Not scheduled: enqueued when an alert is raised, so Slack hears at once; the watchdog also sweeps."""
    from app.ops.alerts import deliver_slack_due

    return _recorded("alert_delivery", lambda: deliver_slack_due().summary())


def stripe_events() -> dict[str, Any]:
    """Queued by POST /webhooks/stripe (one job per burst): processes every stored event still waiting."""
    from app.payments.stripe.events import process_received_events

    return _recorded("stripe_events", process_received_events)


def stripe_sweep() -> dict[str, Any]:
    from app.payments.stripe.sweep import sweep_stripe

    return _recorded("stripe_sweep", sweep_stripe)
