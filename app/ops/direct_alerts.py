"""Alerts that must reach the operator while the database is down: posted to Slack and emailed over SMTP directly.

Every other alert goes through `raise_alert` (an `alerts` row, an outbox email): durable, retried, de-duplicated
at the database. None of that works when the database is the thing that is down, so this path deliberately
bypasses the outbox. What it needs from the database (the operator's alert address and the on/off switches) is
copied into Redis by every healthy watchdog run (`cache_alert_routing`); OPS_ALERT_EMAIL (env) is the fallback
address when nothing was cached. Nothing here is retried: the caller decides what "once" means.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from flask import current_app
from redis import Redis

from app.db_types import utcnow
from app.ops.alerts import post_to_slack
from app.ops.config import ops_env, public_url, slack_webhook_url

log = logging.getLogger(__name__)

#: JSON of the settings below, written by each watchdog run that could read them; no expiry: the copy is needed
#: most when the database has been down for a long time
ROUTING_KEY = "advancia:ops:alert_routing"
#: the outage path must not hang on a slow mail server: the next watchdog run is due in 2 minutes
SMTP_TIMEOUT_CAP = 10


@dataclass(frozen=True)
class AlertRouting:
    alert_email: str = ""
    email_enabled: bool = True
    slack_enabled: bool = True
    #: the From header the outbox uses (MAIL_FROM or the business's address): reading it needs the database
    mail_from: str = ""
    #: False when nothing was cached: the switches are then assumed on
    cached: bool = False


def cache_alert_routing(redis: Redis) -> None:
    """Copies what the outage path needs out of the database. Raises what Redis raises."""
    from app.notifications.rendering import sender
    from app.settings.service import get_setting

    routing = {
        "alert_email": str(get_setting("operator.alert_email") or ""),
        "email_enabled": bool(get_setting("ops.alert_email_enabled")),
        "slack_enabled": bool(get_setting("ops.alert_slack_enabled")),
        "mail_from": sender(),
        "cached_at": utcnow().isoformat(),
    }
    redis.set(ROUTING_KEY, json.dumps(routing))


def cached_alert_routing(redis: Redis) -> AlertRouting:
    """The cached copy, or the env fallback (OPS_ALERT_EMAIL) for the address. Raises what Redis raises."""
    raw = redis.get(ROUTING_KEY)
    data: dict[str, Any] = json.loads(raw) if raw else {}
    return AlertRouting(
        alert_email=data.get("alert_email") or ops_env("OPS_ALERT_EMAIL"),
        email_enabled=bool(data.get("email_enabled", True)),
        slack_enabled=bool(data.get("slack_enabled", True)),
        mail_from=data.get("mail_from") or "",
        cached=bool(data),
    )


@dataclass
class DirectDelivery:
    """What reached the operator, and why the rest did not (for the log and the job's error)."""

    sent: list[str] = field(default_factory=list)
    not_sent: dict[str, str] = field(default_factory=dict)

    @property
    def delivered(self) -> bool:
        return bool(self.sent)

    def describe(self) -> str:
        parts = [f"sent by {', '.join(self.sent)}"] if self.sent else ["operator NOT told"]
        parts += [f"{channel}: {reason}" for channel, reason in self.not_sent.items()]
        return "; ".join(parts)


def send_direct(subject: str, text: str, routing: AlertRouting, *, icon: str) -> DirectDelivery:
    """Posts to Slack and emails the operator, each once, now; failures are reported, not retried."""
    result = DirectDelivery()
    _post(f"{icon} {text}\n<{public_url()}/ops/|Open Advancia Mini>", routing, result)
    _email(subject, text, routing, result)
    if result.delivered:
        log.warning("direct operator alert %r: %s", subject, result.describe())
    else:
        log.critical("direct operator alert %r could not be delivered: %s", subject, result.describe())
    return result


def _post(text: str, routing: AlertRouting, result: DirectDelivery) -> None:
    url = slack_webhook_url()
    if not url:
        result.not_sent["slack"] = "SLACK_WEBHOOK_URL is not set"
        return
    if not routing.slack_enabled:
        result.not_sent["slack"] = "switched off (ops.alert_slack_enabled)"
        return
    delivered, _permanent, reason = post_to_slack(url, {"text": text})
    if delivered:
        result.sent.append("slack")
    else:
        result.not_sent["slack"] = reason


def _email(subject: str, text: str, routing: AlertRouting, result: DirectDelivery) -> None:
    from app.notifications.smtp import DeliveryFailure, SmtpConnection, SmtpSettings

    settings = SmtpSettings.from_config(current_app.config)
    to = parseaddr(routing.alert_email)[1]
    if not routing.email_enabled:
        result.not_sent["email"] = "switched off (ops.alert_email_enabled)"
        return
    if not to:
        result.not_sent["email"] = "no alert address cached in Redis and OPS_ALERT_EMAIL is not set"
        return
    if settings is None:
        result.not_sent["email"] = "SMTP_HOST is not set"
        return
    sender = routing.mail_from or current_app.config.get("MAIL_FROM") or to
    mime = EmailMessage()
    mime["From"] = sender
    mime["To"] = to
    mime["Subject"] = f"[Advancia] {subject}"
    mime["Date"] = format_datetime(utcnow())
    mime["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    mime["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
    mime.set_content(f"{text}\n\nSent directly by the watchdog, not through the outbox (a table in the database).\n")
    try:
        with SmtpConnection(replace(settings, timeout=min(settings.timeout, SMTP_TIMEOUT_CAP))) as connection:
            connection.send(mime, from_addr=parseaddr(sender)[1], to_addrs=[to])
    except DeliveryFailure as exc:
        result.not_sent["email"] = f"SMTP {settings.description}: {exc}"
        return
    result.sent.append("email")
