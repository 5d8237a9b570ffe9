"""What the automation did: one row per run of a scheduled or queued job."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UTCDateTime, str_enum, utcnow
from app.extensions import db


class RunOutcome(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: the job exists on the schedule but its body belongs to a later capability
    NOOP = "noop"


class JobRun(db.Model):
    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the schedule's job name, e.g. "crypto_monitor"
    job_name: Mapped[str] = mapped_column(String(80), nullable=False)
    #: the rq job id, when it ran on a worker
    rq_job_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column()
    outcome: Mapped[RunOutcome] = mapped_column(
        str_enum(RunOutcome, 16),
        nullable=False,
        default=RunOutcome.RUNNING,
    )
    #: what the job reports it did (counts), shown on the automation screen
    summary: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_job_runs_name_started", "job_name", "started_at"),)
