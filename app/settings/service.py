"""Reading and changing operator settings; defaults live here, the database holds what the operator changed."""

from __future__ import annotations

from typing import Any

from app.audit.service import record_audit
from app.extensions import db
from app.settings.models import Setting

DEFAULTS: dict[str, Any] = {
    "business.name": "Advancia Mini Demo Co.",
    "business.address": "1 Market Street\nSan Francisco, CA 94105\nUnited States",
    "business.tax_id": "",
    "business.email": "billing@advancia.test",
    "business.logo_path": "",
    "invoice.due_days": 14,
    #: days after the due date at which the pay page stops quoting and late money goes to review
    "invoice.expiry_days": 30,
    "reminders.days_overdue": [3, 7, 14],
    #: day after the failed renewal -> action; the last step downgrades to the free plan
    "dunning.schedule": [
        {"day": 1, "action": "retry", "email": "dunning_retry"},
        {"day": 3, "action": "retry", "email": "dunning_update_card"},
        {"day": 7, "action": "retry", "email": "dunning_final_warning"},
        {"day": 10, "action": "downgrade", "email": "dunning_downgraded"},
    ],
    "rails.enabled": ["card", "btc", "eth", "usdc", "bank_transfer", "wire", "cash", "check"],
    "bank.instructions": "Bank: First Demo Bank\nAccount name: Advancia Mini Demo Co.\nIBAN: GB33BUKB20201555555555\n"
    "BIC: BUKBGB22",
    "operator.alert_email": "operator@advancia.test",
    # Operations (app/ops). Starting points from the seed's notifications.json: 500 ms response time, 99.9 % uptime.
    "ops.response_time_threshold_ms": 500,
    #: the watchdog needs this many consecutive results before it opens or resolves an incident (flap guard)
    "ops.flap_threshold": 2,
    "ops.uptime_target_percent": "99.9",
    #: a job failing this many runs in a row raises an alert
    "ops.job_failure_alert_threshold": 3,
    "ops.alert_rate_limit_per_hour": 20,
    #: the same alert kind and key raise one message per window
    "ops.alert_dedupe_minutes": 60,
    "ops.alert_email_enabled": True,
    "ops.alert_slack_enabled": True,
    "ops.queue_backlog_threshold": 100,
    "ops.disk_free_min_percent": 10,
    "ops.tls_expiry_warn_days": 14,
    "ops.backup_max_age_hours": 26,
    "ops.backup_retention_days": 30,
    #: raw check results kept this long; the daily uptime rows are kept for good
    "ops.check_results_retention_days": 14,
    #: the operator's note on the public status page ("Scheduled maintenance Sunday 02:00-02:30 UTC")
    "ops.status_note": "",
}


def get_setting(key: str) -> Any:
    row = db.session.get(Setting, key)
    if row is not None:
        return row.value
    if key not in DEFAULTS:
        raise KeyError(f"unknown setting {key!r}")
    return DEFAULTS[key]


def set_setting(key: str, value: Any, *, actor: str) -> None:
    if key not in DEFAULTS:
        raise KeyError(f"unknown setting {key!r}")
    row = db.session.get(Setting, key)
    old = row.value if row else DEFAULTS[key]
    if row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value
    record_audit("settings.changed", actor=actor, object_type="settings", object_id=key, old=old, new=value)
