"""Alerts to the operator: raise_alert() writes the alert and its email (outbox) in the caller's transaction;
Slack messages are posted from the alert rows by a job, with retries.

De-duplicated at the database: the same kind and key raise one alert per dedupe window (incidents: one for
ever, so one message per incident and direction, whatever the number of failing checks). Rate-limited: past
ops.alert_rate_limit_per_hour in the last hour an alert is recorded as suppressed and not sent. The limit is
counted before the insert, so two alerts raised at the same instant may both pass it: a limit, not a ledger.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.db_types import utcnow
from app.extensions import db
from app.ops.config import public_url, slack_webhook_url
from app.ops.models import Alert, SlackStatus
from app.settings.service import get_setting

log = logging.getLogger(__name__)

SLACK_TIMEOUT = 10
SLACK_MAX_ATTEMPTS = 6
SLACK_LEASE = timedelta(minutes=2)
#: the first retry waits this long, then it doubles
SLACK_FIRST_RETRY = timedelta(minutes=1)
#: dedupe window meaning "once, ever" (incident transitions)
ONCE = 0


class AlertError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _dedupe_key(kind: str, key: str, window_minutes: int, now: datetime) -> str:
    if window_minutes == ONCE:
        return f"{kind}:{key}"
    bucket = int(now.timestamp()) // (window_minutes * 60)
    return f"{kind}:{key}:{bucket}"


def raise_alert(
    kind: str,
    key: str,
    message: str,
    *,
    context: dict | None = None,
    window_minutes: int | None = None,
    now: datetime | None = None,
    channels: tuple[str, ...] = ("email", "slack"),
) -> Alert | None:
    """Raises an alert (in the caller's transaction). Returns None when the same alert was already raised.

    `kind` is a short word ("incident.opened", "payments.webhook_failing"), `key` names the thing ("incident:4",
    "stripe"). `window_minutes` defaults to ops.alert_dedupe_minutes; ONCE means once for ever.
    """
    if not kind or len(kind) > 40:
        raise AlertError("kind", "kind is required, at most 40 characters")
    if not key or len(key) > 120:
        raise AlertError("key", "key is required, at most 120 characters")
    if not message.strip():
        raise AlertError("message", "message is required")
    now = now or utcnow()
    window = int(get_setting("ops.alert_dedupe_minutes")) if window_minutes is None else window_minutes
    sent_last_hour = db.session.scalar(
        select(func.count())
        .select_from(Alert)
        .where(Alert.created_at > now - timedelta(hours=1), Alert.suppressed.is_(False), Alert.kind != "test")
    )
    suppressed = kind != "test" and sent_last_hour >= int(get_setting("ops.alert_rate_limit_per_hour"))
    slack_on = "slack" in channels and bool(slack_webhook_url()) and bool(get_setting("ops.alert_slack_enabled"))
    alert = Alert(
        kind=kind,
        key=key,
        dedupe_key=_dedupe_key(kind, key, window, now),
        message=message.strip(),
        created_at=now,
        suppressed=suppressed,
        slack_status=SlackStatus.PENDING if slack_on and not suppressed else SlackStatus.OFF,
        slack_next_attempt_at=now,
        context=context or {},
    )
    try:
        with db.session.begin_nested():
            db.session.add(alert)
    except IntegrityError:
        return None
    if not suppressed and "email" in channels:
        _queue_alert_email(alert)
    return alert


def _queue_alert_email(alert: Alert) -> None:
    from app.notifications.outbox import queue_email

    to = get_setting("operator.alert_email")
    if not to or not get_setting("ops.alert_email_enabled"):
        return
    first_line = alert.message.splitlines()[0]
    message = queue_email(
        to=to,
        subject=f"[Advancia] {first_line[:150]}",
        template="ops_alert",
        context={"message": alert.message, "kind": alert.kind, "raised_at": alert.created_at.isoformat()},
        dedupe_key=f"alert:{alert.id}",
    )
    alert.email_outbox_id = message.id


def recent_alerts(limit: int = 50) -> list[Alert]:
    return list(db.session.scalars(select(Alert).order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit)))


# --- Slack delivery (a job; commits by itself like the email outbox: a claim must be durable before the POST) ---


@dataclass
class SlackReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0

    def summary(self) -> dict:
        return {f"slack_{k}": v for k, v in asdict(self).items() if v}


def _due(now: datetime):
    return or_(
        and_(Alert.slack_status == SlackStatus.PENDING, Alert.slack_next_attempt_at <= now),
        # a worker that died mid-send leaves its lease to lapse
        and_(Alert.slack_status == SlackStatus.SENDING, Alert.slack_next_attempt_at <= now),
    )


def _claim(now: datetime) -> tuple[int, int] | None:
    pick = select(Alert.id).where(_due(now)).order_by(Alert.slack_next_attempt_at, Alert.id).limit(1)
    if db.session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    row = db.session.execute(
        update(Alert)
        .where(Alert.id == pick.scalar_subquery(), _due(now))
        .values(
            slack_status=SlackStatus.SENDING,
            slack_attempts=Alert.slack_attempts + 1,
            slack_next_attempt_at=now + SLACK_LEASE,
        )
        .returning(Alert.id, Alert.slack_attempts),
        execution_options={"synchronize_session": False},
    ).first()
    db.session.commit()
    return (row.id, row.slack_attempts) if row else None


def slack_payload(alert: Alert) -> dict:
    icon = {"incident.resolved": ":white_check_mark:", "test": ":wave:"}.get(alert.kind, ":rotating_light:")
    link = f"{public_url()}/ops/"
    return {"text": f"{icon} {alert.message}\n<{link}|Open Advancia Mini>"}


def post_to_slack(url: str, payload: dict) -> tuple[bool, bool, str]:
    """(delivered, permanent failure, reason). Slack answers 200 "ok"; 4xx but 429 will not get better."""
    body = json.dumps(payload).encode()
    if not url.startswith(("https://", "http://")):
        return False, True, "SLACK_WEBHOOK_URL must be an http(s) URL"
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (checked above)
    try:
        with urllib.request.urlopen(request, timeout=SLACK_TIMEOUT) as response:  # noqa: S310
            return True, False, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        detail = exc.read(200).decode(errors="replace").strip()
        return False, 400 <= exc.code < 500 and exc.code != 429, f"HTTP {exc.code} {detail}".strip()
    except OSError as exc:
        return False, False, f"{type(exc).__name__}: {exc}"[:300]


def deliver_slack_due(*, now: datetime | None = None, limit: int = 50) -> SlackReport:
    """Posts every due Slack alert once; failures wait (1, 2, 4... minutes) for the next run, then give up."""
    report = SlackReport()
    url = slack_webhook_url()
    for _ in range(limit):
        at = now or utcnow()
        claim = _claim(at)
        if claim is None:
            break
        alert_id, attempt = claim
        alert = db.session.get(Alert, alert_id, populate_existing=True)
        if not url:
            delivered, permanent, reason = False, True, "SLACK_WEBHOOK_URL is not set"
        else:
            payload = slack_payload(alert)
            db.session.rollback()  # hold no transaction while Slack answers
            delivered, permanent, reason = post_to_slack(url, payload)
        _record(alert_id, attempt, delivered, permanent, reason, now or utcnow(), report)
    return report


def _record(
    alert_id: int, attempt: int, delivered: bool, permanent: bool, reason: str, now: datetime, report: SlackReport
) -> None:
    ours = and_(Alert.id == alert_id, Alert.slack_status == SlackStatus.SENDING, Alert.slack_attempts == attempt)
    if delivered:
        values: dict = {"slack_status": SlackStatus.SENT, "slack_error": None}
        report.sent += 1
    elif permanent or attempt >= SLACK_MAX_ATTEMPTS:
        values = {"slack_status": SlackStatus.DEAD, "slack_error": reason}
        report.dead += 1
        log.warning("slack alert %s dead: %s", alert_id, reason)
    else:
        wait = SLACK_FIRST_RETRY * 2 ** (attempt - 1)
        values = {"slack_status": SlackStatus.PENDING, "slack_error": reason, "slack_next_attempt_at": now + wait}
        report.retrying += 1
    db.session.execute(update(Alert).where(ours).values(**values), execution_options={"synchronize_session": False})
    db.session.commit()


def enqueue_slack_delivery() -> bool:
    """Asks a worker to post due Slack alerts now rather than at the watchdog's next sweep; False if Redis is down.
    Nothing to do (and no job run to record) when Slack is not configured."""
    if not slack_webhook_url():
        return True
    try:
        from app.queues import get_queue

        get_queue().enqueue("workers.jobs.alert_delivery", job_timeout=120, result_ttl=3600)
        return True
    except Exception:
        log.warning("could not enqueue the Slack delivery job; the watchdog's next run delivers instead")
        return False
