"""The one table of scheduled jobs. The scheduler registers it; the automation screen reads it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    #: dotted path of the job function in workers.jobs
    func: str
    #: seconds between runs, for interval jobs
    interval: int | None = None
    #: cron expression in UTC, for clock jobs
    cron: str | None = None
    timeout: int = 300
    description: str = ""

    @property
    def cadence(self) -> str:
        if self.interval:
            return f"every {self.interval} s" if self.interval < 120 else f"every {self.interval // 60} min"
        return f"cron {self.cron} (UTC)"

    @property
    def schedule_id(self) -> str:
        """Changes whenever the definition changes, so re-registration replaces instead of duplicating."""
        spec = json.dumps([self.name, self.func, self.interval, self.cron, self.timeout], sort_keys=True)
        return f"advancia-{self.name}-{hashlib.sha256(spec.encode()).hexdigest()[:12]}"


SCHEDULE: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        "crypto_monitor",
        "workers.jobs.crypto_monitor",
        interval=30,
        timeout=25,
        description="Watch Bitcoin, Ethereum and USDC addresses of open invoices.",
    ),
    ScheduledJob(
        "outbox_delivery",
        "workers.jobs.outbox_delivery",
        interval=30,
        # A big backlog can outlast the interval: runs overlap safely (each message is claimed once).
        timeout=600,
        description="Send queued email over SMTP with retries; hold it when no SMTP server is set.",
    ),
    ScheduledJob(
        "health_watchdog",
        "workers.jobs.health_watchdog",
        interval=120,
        timeout=60,
        description="Check the web app, database, Redis, workers and external services.",
    ),
    ScheduledJob(
        "bank_sync",
        "workers.jobs.bank_sync",
        cron="0 * * * *",
        description="Pull bank transactions from Plaid and match them to invoices.",
    ),
    ScheduledJob(
        "subscription_renewals",
        "workers.jobs.subscription_renewals",
        cron="0 2 * * *",
        timeout=1800,
        description="Create renewal invoices and charge cards on file.",
    ),
    ScheduledJob(
        "trial_cleanup",
        "workers.jobs.trial_cleanup",
        cron="0 3 * * *",
        description="Move expired trials to the free plan.",
    ),
    ScheduledJob(
        "backups",
        "workers.jobs.backups",
        cron="0 4 * * *",
        timeout=1800,
        description="Back up the database; keep 30 days.",
    ),
    ScheduledJob(
        "churn_analysis",
        "workers.jobs.churn_analysis",
        cron="0 6 * * 1",
        timeout=1800,
        description="Score customers by churn risk (Mondays).",
    ),
    ScheduledJob(
        "revenue_report",
        "workers.jobs.revenue_report",
        cron="0 8 * * *",
        description="Email yesterday's revenue report.",
    ),
    ScheduledJob(
        "dunning",
        "workers.jobs.dunning",
        cron="0 9 * * *",
        timeout=1800,  # per-row: ~100 subscriptions or invoices a second on a busy 2-core machine
        description="Retry failed payments and warn, then downgrade.",
    ),
    ScheduledJob(
        "invoice_auto_send",
        "workers.jobs.invoice_auto_send",
        cron="0 10 * * *",
        timeout=1800,  # per-row: ~100 subscriptions or invoices a second on a busy 2-core machine
        description="Send open invoices with a pay link, and overdue reminders.",
    ),
    ScheduledJob(
        "stripe_sweep",
        "workers.jobs.stripe_sweep",
        # half past, away from bank_sync's top of the hour
        cron="30 * * * *",
        timeout=900,
        description="Ask Stripe for recent card payments and refunds; book any whose webhook never arrived.",
    ),
    ScheduledJob(
        "accounting_sync",
        "workers.jobs.accounting_sync",
        cron="0 23 * * *",
        timeout=1800,
        description="Send the day's invoices and payments to QuickBooks.",
    ),
    ScheduledJob(
        "webhook_delivery",
        "workers.jobs.webhook_delivery",
        interval=30,
        timeout=60,
        description="POST due webhook events, signed, to the operator's product; retry with backoff.",
    ),
)

BY_NAME: dict[str, ScheduledJob] = {job.name: job for job in SCHEDULE}
