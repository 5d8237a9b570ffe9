"""Operations records: health check results, daily uptime per public component, incidents and alerts."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import UTCDateTime, str_enum, utcnow
from app.extensions import db


class CheckStatus(enum.StrEnum):
    OK = "ok"
    #: answering, but slower than the threshold or close to a limit (disk, certificate, backlog)
    DEGRADED = "degraded"
    DOWN = "down"
    #: not applicable here (plain-http PUBLIC_URL has no certificate; an unconfigured service)
    SKIPPED = "skipped"


#: worst first; a component is as bad as its worst check
SEVERITY = {CheckStatus.DOWN: 3, CheckStatus.DEGRADED: 2, CheckStatus.OK: 1, CheckStatus.SKIPPED: 0}


class CheckResult(db.Model):
    """One row per check per watchdog run; pruned after ops.check_results_retention_days (uptime lives on)."""

    __tablename__ = "check_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the same instant for every check of one watchdog run
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: "web", "database", "redis", "workers", "scheduler", "disk", "tls", "backups", "ext:stripe", ...
    #: (the column is check_name: CHECK is an SQL keyword)
    check: Mapped[str] = mapped_column("check_name", String(40), nullable=False)
    status: Mapped[CheckStatus] = mapped_column(str_enum(CheckStatus, 12), nullable=False)
    latency_ms: Mapped[int | None] = mapped_column()
    #: one line for the operator ("3 workers, oldest heartbeat 12 s ago"); never a secret
    detail: Mapped[str] = mapped_column(String(300), nullable=False, default="")

    __table_args__ = (
        Index("ix_check_results_check_name_checked_at", "check_name", "checked_at"),
        Index("ix_check_results_checked_at", "checked_at"),
    )


class ComponentDay(db.Model):
    """Watchdog runs per public component and UTC day, by outcome: the 90-day uptime and bar strip read these."""

    __tablename__ = "component_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    #: a key of app.ops.components.COMPONENTS
    component: Mapped[str] = mapped_column(String(40), nullable=False)
    ok_runs: Mapped[int] = mapped_column(nullable=False, default=0)
    degraded_runs: Mapped[int] = mapped_column(nullable=False, default=0)
    down_runs: Mapped[int] = mapped_column(nullable=False, default=0)

    __table_args__ = (UniqueConstraint("day", "component"),)


class IncidentStatus(enum.StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class IncidentImpact(enum.StrEnum):
    MINOR = "minor"
    MAJOR = "major"
    MAINTENANCE = "maintenance"


class Incident(db.Model):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[IncidentStatus] = mapped_column(
        str_enum(IncidentStatus, 16), nullable=False, default=IncidentStatus.INVESTIGATING
    )
    impact: Mapped[IncidentImpact] = mapped_column(str_enum(IncidentImpact, 16), nullable=False)
    #: keys of the public components it affects; empty for an internal incident (disk, backups)
    components: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    #: shown on the public status page
    public: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    #: what opened it automatically ("check:database"); None when the operator opened it
    source_key: Mapped[str | None] = mapped_column(String(80))
    #: equals source_key while open, None once resolved: the database allows one open incident per source
    open_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_by: Mapped[str] = mapped_column(String(80), nullable=False)

    updates: Mapped[list[IncidentUpdate]] = relationship(
        back_populates="incident", order_by="IncidentUpdate.created_at.desc(), IncidentUpdate.id.desc()"
    )

    __table_args__ = (Index("ix_incidents_opened_at", "opened_at"),)

    @property
    def is_open(self) -> bool:
        return self.status != IncidentStatus.RESOLVED


class IncidentUpdate(db.Model):
    __tablename__ = "incident_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), nullable=False, index=True)
    status: Mapped[IncidentStatus] = mapped_column(str_enum(IncidentStatus, 16), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    author: Mapped[str] = mapped_column(String(80), nullable=False)

    incident: Mapped[Incident] = relationship(back_populates="updates")


class SlackStatus(enum.StrEnum):
    PENDING = "pending"
    #: claimed by a delivery job until slack_next_attempt_at
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    #: SLACK_WEBHOOK_URL is not set, or the alert was suppressed
    OFF = "off"


class Alert(db.Model):
    """An alert raised to the operator. Email goes through the outbox; Slack is delivered from this row."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "incident.opened", "incident.resolved", "job.failing", "test", or a capability's own kind
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    key: Mapped[str] = mapped_column(String(120), nullable=False)
    #: kind:key plus the dedupe window it fell in: a second raise in the same window is the same alert
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    #: over the hourly limit: recorded and shown, not sent
    suppressed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    email_outbox_id: Mapped[int | None] = mapped_column()
    slack_status: Mapped[SlackStatus] = mapped_column(str_enum(SlackStatus, 12), nullable=False)
    slack_attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    slack_next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    slack_error: Mapped[str | None] = mapped_column(Text)
    #: what the message links to, for the operator ({"incident_id": 4} or {"job": "bank_sync"})
    context: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)

    __table_args__ = (
        Index("ix_alerts_created_at", "created_at"),
        Index("ix_alerts_slack_due", "slack_status", "slack_next_attempt_at"),
    )
