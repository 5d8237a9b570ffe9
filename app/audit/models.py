"""The append-only audit log: who did what to which object, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UTCDateTime, utcnow
from app.extensions import db


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: when the change happened (UTC)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    #: "user:<id>", "job:<name>", "api-token:<id>", "system", "webhook:<source>"
    actor: Mapped[str] = mapped_column(String(120), nullable=False)
    #: dotted verb, e.g. "invoice.paid", "auth.login", "user.totp_enabled"
    action: Mapped[str] = mapped_column(String(80), nullable=False)
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)

    __table_args__ = (Index("ix_audit_entries_object", "object_type", "object_id"),)


@event.listens_for(AuditEntry, "before_update")
def _refuse_update(mapper, connection, target) -> None:  # noqa: ANN001
    raise RuntimeError("audit entries are append-only")


@event.listens_for(AuditEntry, "before_delete")
def _refuse_delete(mapper, connection, target) -> None:  # noqa: ANN001
    raise RuntimeError("audit entries are append-only")
